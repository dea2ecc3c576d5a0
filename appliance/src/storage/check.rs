//! `outpost storage check`: proves the configured store works before anything depends on it,
//! step by step: reach it (and create the bucket), write, measure, read back, list, delete.
//! The first step that fails is named with the store's own reason.

use bytes::Bytes;
use futures_util::StreamExt;
use sha2::{Digest, Sha256};

use super::{ObjectKey, ObjectStore, Storage, StorageError};
use crate::config::StorageConfig;
use crate::identity::secrets::random_hex;

/// The steps that passed, one line each, or the step that failed and why.
pub async fn run(config: &StorageConfig) -> Result<Vec<String>, String> {
    let store = Storage::open(config).await.map_err(|e| step("Cannot open the object store", e))?;
    let mut passed = vec![format!("reached {}", store.describe())];
    passed.extend(exercise(&store).await?);
    Ok(passed)
}

fn step(what: &str, error: StorageError) -> String {
    format!("{what}: {error}")
}

/// Writes, measures, reads back, lists and deletes a test object in a store already open: the
/// steps that passed, or the one that failed and why.
pub async fn exercise(store: &Storage) -> Result<Vec<String>, String> {
    let mut passed = Vec::new();

    let key = ObjectKey::new(&format!("outpost-check/{}", random_hex(8))).map_err(|e| step("Bad key", e))?;
    let content = Bytes::from(format!("Outpost storage check {}\n", random_hex(16)).repeat(1000));
    let expected = hex::encode(Sha256::digest(&content));
    let body = Box::pin(futures_util::stream::iter([Ok(content.clone())]));
    let stored =
        store.put(&key, body, content.len() as u64, "text/plain").await.map_err(|e| step("Cannot write", e))?;
    if stored.sha256 != expected || stored.size != content.len() as u64 {
        return Err(format!(
            "The write of {key} measured {} bytes, SHA-256 {}; expected {}, {expected}",
            stored.size,
            stored.sha256,
            content.len()
        ));
    }
    passed.push(format!("wrote {key} ({} bytes)", stored.size));

    let size = store.size(&key).await.map_err(|e| step("Cannot read the size of the object just written", e))?;
    if size != Some(stored.size) {
        return Err(format!("The store reports {size:?} bytes for {key}, which was written with {}", stored.size));
    }
    let mut read = Vec::with_capacity(content.len());
    let mut stream = store.get(&key).await.map_err(|e| step("Cannot read the object just written", e))?;
    while let Some(chunk) = stream.next().await {
        read.extend_from_slice(&chunk.map_err(|e| format!("Reading {key} stopped: {e}"))?);
    }
    if hex::encode(Sha256::digest(&read)) != expected {
        return Err(format!("{key} reads back different bytes than were written"));
    }
    passed.push("read it back unchanged".to_owned());

    let listed = store.list("outpost-check").await.map_err(|e| step("Cannot list", e))?;
    if !listed.iter().any(|entry| entry.key == key) {
        return Err(format!("Listing outpost-check/ does not show {key}, which was just written"));
    }
    passed.push("found it in a listing".to_owned());

    store.delete(&key).await.map_err(|e| step("Cannot delete", e))?;
    if store.size(&key).await.map_err(|e| step("Cannot check the deletion", e))?.is_some() {
        return Err(format!("{key} is still there after it was deleted"));
    }
    passed.push("deleted it".to_owned());
    Ok(passed)
}
