//! Backups kept in the object store (`backup.target = "object-store"`: the S3 bucket of
//! `storage.*`, under `backups/`), for installations whose local disk is not where backups
//! should live. An archive is written to `backup.dir` as ever (atomically), then uploaded,
//! checked by size, and only then removed locally: a failed upload leaves the local archive.

use std::path::{Path, PathBuf};

use futures_util::StreamExt;

use super::archive;
use super::Listed;
use crate::storage::{ObjectKey, ObjectStore, Storage};

const PREFIX: &str = "backups";

fn key(name: &str) -> Result<ObjectKey, String> {
    ObjectKey::new(&format!("{PREFIX}/{name}")).map_err(|e| format!("{name} cannot be an object key: {e}"))
}

/// Uploads the archive at `path` and removes the local copy once the store holds all of it.
pub async fn upload(storage: &Storage, path: &Path) -> Result<String, String> {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let object = key(&name)?;
    let size = tokio::fs::metadata(path).await.map_err(|e| format!("{}: {e}", path.display()))?.len();
    let file = tokio::fs::File::open(path).await.map_err(|e| format!("{}: {e}", path.display()))?;
    let body = Box::pin(tokio_util::io::ReaderStream::with_capacity(file, 256 * 1024));
    let stored = storage
        .put(&object, body, size, "application/octet-stream")
        .await
        .map_err(|e| format!("{} was written but not uploaded ({e}); it stays in backup.dir", path.display()))?;
    if stored.size != size {
        return Err(format!("the store holds {} bytes of {name}, not {size}; the local archive stays", stored.size));
    }
    tokio::fs::remove_file(path).await.map_err(|e| format!("uploaded, but {} stays: {e}", path.display()))?;
    Ok(format!("{} as {object}", storage.describe()))
}

/// The archives in the store, newest first, with their headers (read from the first bytes).
pub async fn list(storage: &Storage) -> Result<Vec<Listed>, String> {
    let listed = storage.list(PREFIX).await.map_err(|e| format!("cannot list the backups in the object store: {e}"))?;
    let mut found = Vec::new();
    for entry in listed {
        let name = entry.key.as_str().trim_start_matches(&format!("{PREFIX}/")).to_owned();
        if !archive::is_archive_name(&name) {
            continue;
        }
        let size = storage.size(&entry.key).await.map_err(|e| e.to_string())?.unwrap_or(0);
        let header = match storage.get(&entry.key).await {
            Ok(body) => {
                archive::read_header(&name, tokio_util::io::StreamReader::new(body)).await.ok().map(|o| o.header)
            }
            Err(_) => None,
        };
        found.push(Listed { path: PathBuf::from(name), size, header });
    }
    found.sort_by(|a, b| b.path.cmp(&a.path));
    Ok(found)
}

/// Downloads the archive `name` into `folder` (under a hidden name), for verifying or
/// restoring; the caller removes it.
pub async fn fetch(storage: &Storage, name: &str, folder: &Path) -> Result<PathBuf, String> {
    let mut body = storage.get(&key(name)?).await.map_err(|e| format!("{name}: {e}"))?;
    let path = folder.join(format!(".{name}.download"));
    let mut file = tokio::fs::File::create(&path).await.map_err(|e| format!("{}: {e}", path.display()))?;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| format!("{name}: {e}"))?;
        tokio::io::AsyncWriteExt::write_all(&mut file, &chunk).await.map_err(|e| e.to_string())?;
    }
    Ok(path)
}

pub async fn remove(storage: &Storage, name: &str) -> Result<(), String> {
    storage.delete(&key(name)?).await.map_err(|e| format!("cannot remove {name} from the object store: {e}"))
}
