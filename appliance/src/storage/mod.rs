//! Object storage for files people attach (and, later, backups): one small trait with two
//! implementations, local disk under the data folder (the default) and any S3-compatible
//! server such as MinIO, so nothing else in Outpost knows which one it has.
//!
//! Objects are written whole or not at all, and their SHA-256 and size are computed while the
//! bytes stream through (`tally`), so a 2 GiB upload never sits in memory. Keys are made by
//! Outpost, never by users; `ObjectKey` still refuses anything that could leave its folder.

pub mod check;
pub mod local;
pub mod s3;
mod tally;

use std::future::Future;
use std::io;
use std::pin::Pin;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use futures_util::Stream;

use crate::config::{StorageBackend, StorageConfig};
pub use local::LocalDisk;
pub use s3::S3Store;

/// Bytes arriving or leaving in chunks.
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// What a finished write measured.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Stored {
    /// Hex SHA-256 of the bytes written.
    pub sha256: String,
    pub size: u64,
}

#[derive(Debug, thiserror::Error)]
pub enum StorageError {
    #[error("the object store cannot be reached: {0}")]
    Unreachable(String),
    #[error("the object store refused access: {0}")]
    Denied(String),
    #[error("there is no object {0}")]
    NotFound(String),
    #[error("the file is larger than {limit} bytes")]
    TooLarge { limit: u64 },
    #[error("the object store failed: {0}")]
    Failed(String),
}

/// An object found by `list`, with when it was last written: the orphan sweep spares young
/// objects, which may be uploads still waiting for their row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Listed {
    pub key: ObjectKey,
    pub modified: DateTime<Utc>,
}

/// A key inside the store: lower-case letters, digits, `-`, `_`, `.`, and `/` between parts,
/// with no empty, `.` or `..` part, so it names the same object on disk and in a bucket.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey(String);

impl ObjectKey {
    pub fn new(key: &str) -> Result<ObjectKey, StorageError> {
        let allowed = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.');
        let parts_ok =
            key.split('/').all(|part| !part.is_empty() && part != "." && part != ".." && part.chars().all(allowed));
        if key.len() <= 512 && parts_ok {
            Ok(ObjectKey(key.to_owned()))
        } else {
            Err(StorageError::Failed(format!("\"{key}\" is not a valid object key")))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What every object store does. `put` refuses a body past `limit` bytes and leaves nothing
/// behind; `delete` of a missing object succeeds; `list` names every object under a folder
/// prefix (`attachments/`) with its modification time, sorted by key, for the sweep of
/// objects no row points to.
pub trait ObjectStore {
    fn put(
        &self,
        key: &ObjectKey,
        body: ByteStream,
        limit: u64,
        content_type: &str,
    ) -> impl Future<Output = Result<Stored, StorageError>> + Send;
    fn get(&self, key: &ObjectKey) -> impl Future<Output = Result<ByteStream, StorageError>> + Send;
    fn size(&self, key: &ObjectKey) -> impl Future<Output = Result<Option<u64>, StorageError>> + Send;
    fn delete(&self, key: &ObjectKey) -> impl Future<Output = Result<(), StorageError>> + Send;
    fn list(&self, prefix: &str) -> impl Future<Output = Result<Vec<Listed>, StorageError>> + Send;
}

/// The store the configuration chose.
#[derive(Clone)]
pub enum Storage {
    Local(LocalDisk),
    S3(S3Store),
}

impl Storage {
    /// Opens the configured store; an S3 bucket that does not exist yet is created.
    pub async fn open(config: &StorageConfig) -> Result<Storage, StorageError> {
        Ok(match &config.backend {
            StorageBackend::Local { dir } => Storage::Local(LocalDisk::open(dir).await?),
            StorageBackend::S3(settings) => Storage::S3(S3Store::open(settings).await?),
        })
    }

    /// Where objects go, for messages: a folder, or an endpoint and bucket.
    pub fn describe(&self) -> String {
        match self {
            Storage::Local(disk) => format!("local disk at {}", disk.root().display()),
            Storage::S3(store) => store.describe(),
        }
    }
}

impl ObjectStore for Storage {
    async fn put(
        &self,
        key: &ObjectKey,
        body: ByteStream,
        limit: u64,
        content_type: &str,
    ) -> Result<Stored, StorageError> {
        match self {
            Storage::Local(store) => store.put(key, body, limit, content_type).await,
            Storage::S3(store) => store.put(key, body, limit, content_type).await,
        }
    }

    async fn get(&self, key: &ObjectKey) -> Result<ByteStream, StorageError> {
        match self {
            Storage::Local(store) => store.get(key).await,
            Storage::S3(store) => store.get(key).await,
        }
    }

    async fn size(&self, key: &ObjectKey) -> Result<Option<u64>, StorageError> {
        match self {
            Storage::Local(store) => store.size(key).await,
            Storage::S3(store) => store.size(key).await,
        }
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError> {
        match self {
            Storage::Local(store) => store.delete(key).await,
            Storage::S3(store) => store.delete(key).await,
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<Listed>, StorageError> {
        match self {
            Storage::Local(store) => store.list(prefix).await,
            Storage::S3(store) => store.list(prefix).await,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_leave_their_folder_or_differ_between_disk_and_bucket() {
        for good in ["attachments/ab12", "outpost-check/x_1.bin", "a"] {
            assert!(ObjectKey::new(good).is_ok(), "{good}");
        }
        for bad in ["", "/abs", "a//b", "a/../b", "..", "a/.", "Upper", "a b", "a\\b", "trailing/", "é"] {
            assert!(ObjectKey::new(bad).is_err(), "{bad:?}");
        }
    }
}
