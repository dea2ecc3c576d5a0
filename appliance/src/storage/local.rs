//! Objects as files under a folder (the data folder's `objects/` by default). A write goes
//! to a temporary file in the same file system, is flushed to disk, and only then renamed
//! into place, so a reader or a crash never sees half a file.

use std::io;
use std::path::{Path, PathBuf};

use futures_util::StreamExt;
use tokio::io::AsyncWriteExt;
use tokio_util::io::ReaderStream;

use super::tally::Tally;
use super::{ByteStream, Listed, ObjectKey, ObjectStore, StorageError, Stored};

/// Unfinished writes live here, inside the root so the final rename stays on one file system.
const UNFINISHED: &str = ".unfinished";

#[derive(Clone, Debug)]
pub struct LocalDisk {
    root: PathBuf,
}

fn failed(what: &str, path: &Path, error: io::Error) -> StorageError {
    match error.kind() {
        io::ErrorKind::PermissionDenied => StorageError::Denied(format!("{what} {}: {error}", path.display())),
        _ => StorageError::Failed(format!("{what} {}: {error}", path.display())),
    }
}

impl LocalDisk {
    /// Opens (creating if needed) the folder objects live in.
    pub async fn open(root: &Path) -> Result<LocalDisk, StorageError> {
        let unfinished = root.join(UNFINISHED);
        tokio::fs::create_dir_all(&unfinished).await.map_err(|e| failed("cannot create", &unfinished, e))?;
        Ok(LocalDisk { root: root.to_path_buf() })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path_of(&self, key: &ObjectKey) -> PathBuf {
        self.root.join(key.as_str())
    }

    async fn write(&self, temp: &Path, body: ByteStream) -> Result<(), StorageError> {
        let mut file = tokio::fs::File::create(temp).await.map_err(|e| failed("cannot create", temp, e))?;
        let mut body = body;
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| StorageError::Failed(format!("the upload stopped: {e}")))?;
            file.write_all(&chunk).await.map_err(|e| failed("cannot write", temp, e))?;
        }
        file.flush().await.map_err(|e| failed("cannot write", temp, e))?;
        file.sync_all().await.map_err(|e| failed("cannot flush", temp, e))
    }
}

impl ObjectStore for LocalDisk {
    async fn put(
        &self,
        key: &ObjectKey,
        body: ByteStream,
        limit: u64,
        _content_type: &str,
    ) -> Result<Stored, StorageError> {
        let tally = Tally::default();
        let temp = self.root.join(UNFINISHED).join(crate::identity::secrets::random_hex(16));
        let written = self.write(&temp, tally.wrap(body, limit)).await;
        let finished = match written {
            Ok(()) => tally.finish(limit),
            Err(error) => Err(if tally.over_limit() { StorageError::TooLarge { limit } } else { error }),
        };
        let stored = match finished {
            Ok(stored) => stored,
            Err(error) => {
                let _ = tokio::fs::remove_file(&temp).await;
                return Err(error);
            }
        };
        let target = self.path_of(key);
        let placed = async {
            if let Some(folder) = target.parent() {
                tokio::fs::create_dir_all(folder).await.map_err(|e| failed("cannot create", folder, e))?;
            }
            tokio::fs::rename(&temp, &target).await.map_err(|e| failed("cannot move into place", &target, e))?;
            // The rename is durable only once the folder holding the new name is on disk too.
            if let Some(folder) = target.parent() {
                let folder = tokio::fs::File::open(folder).await.map_err(|e| failed("cannot open", folder, e))?;
                folder.sync_all().await.map_err(|e| failed("cannot flush", &target, e))?;
            }
            Ok(())
        };
        if let Err(error) = placed.await {
            let _ = tokio::fs::remove_file(&temp).await;
            return Err(error);
        }
        Ok(stored)
    }

    async fn get(&self, key: &ObjectKey) -> Result<ByteStream, StorageError> {
        let path = self.path_of(key);
        match tokio::fs::File::open(&path).await {
            Ok(file) => Ok(Box::pin(ReaderStream::with_capacity(file, 64 * 1024))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Err(StorageError::NotFound(key.to_string())),
            Err(e) => Err(failed("cannot read", &path, e)),
        }
    }

    async fn size(&self, key: &ObjectKey) -> Result<Option<u64>, StorageError> {
        let path = self.path_of(key);
        match tokio::fs::metadata(&path).await {
            Ok(meta) if meta.is_file() => Ok(Some(meta.len())),
            Ok(_) => Ok(None),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(failed("cannot read", &path, e)),
        }
    }

    async fn delete(&self, key: &ObjectKey) -> Result<(), StorageError> {
        let path = self.path_of(key);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(failed("cannot delete", &path, e)),
        }
    }

    async fn list(&self, prefix: &str) -> Result<Vec<Listed>, StorageError> {
        let mut found = Vec::new();
        let mut folders = vec![prefix.trim_end_matches('/').to_owned()];
        while let Some(folder) = folders.pop() {
            let path = self.root.join(&folder);
            let mut entries = match tokio::fs::read_dir(&path).await {
                Ok(entries) => entries,
                Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                Err(e) => return Err(failed("cannot list", &path, e)),
            };
            while let Some(entry) = entries.next_entry().await.map_err(|e| failed("cannot list", &path, e))? {
                let name = entry.file_name().to_string_lossy().into_owned();
                let key = if folder.is_empty() { name } else { format!("{folder}/{name}") };
                if key == UNFINISHED {
                    continue;
                }
                let metadata = entry.metadata().await.map_err(|e| failed("cannot list", &path, e))?;
                if metadata.is_dir() {
                    folders.push(key);
                } else if let Ok(key) = ObjectKey::new(&key) {
                    let modified = metadata.modified().map_err(|e| failed("cannot list", &path, e))?;
                    found.push(Listed { key, modified: modified.into() });
                }
            }
        }
        found.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(found)
    }
}
