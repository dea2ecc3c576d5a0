//! Receiving a multipart upload straight into the object store, file by file, without
//! holding any file in memory: each part's chunks are handed to the store through a small
//! channel (the multipart reader lives on the request's thread; the store's writer may not),
//! after its first bytes have been read to learn its type.

use actix_multipart::{Field, Multipart};
use bytes::Bytes;
use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::{check_name, sniff, Uploaded};
use crate::db;
use crate::errors::AppError;
use crate::identity::secrets;
use crate::storage::{ByteStream, ObjectStore};
use crate::web::AppState;

/// Chunks in flight between the reader and the store.
const CHANNEL_CHUNKS: usize = 4;

fn unreadable(error: impl std::fmt::Display) -> AppError {
    AppError::bad_request(Some("files".to_owned()), format!("The upload could not be read: {error}."))
}

/// Reads a form whose first field is `csrf_token` (checked against `csrf` before any file is
/// stored), then every `files` field into the store. All or nothing: when one file is
/// refused, the ones already stored are removed again and the refusal is returned.
pub async fn receive(state: &AppState, mut form: Multipart, csrf: Option<&str>) -> Result<Vec<Uploaded>, AppError> {
    let limit = state.config.storage.max_upload_bytes;
    let mut token_checked = csrf.is_none();
    let mut stored: Vec<Uploaded> = Vec::new();
    let outcome: Result<(), AppError> = async {
        while let Some(field) = form.next().await {
            let mut field = field.map_err(unreadable)?;
            let name = field.content_disposition().and_then(|d| d.get_name()).unwrap_or("").to_owned();
            match name.as_str() {
                "csrf_token" => {
                    let mut token = Vec::new();
                    while let Some(chunk) = field.next().await {
                        token.extend_from_slice(&chunk.map_err(unreadable)?);
                        if token.len() > 256 {
                            return Err(AppError::forbidden(crate::web::extract::CSRF_REFUSAL));
                        }
                    }
                    let expected = csrf.unwrap_or_default();
                    if !secrets::same(&String::from_utf8_lossy(&token), expected) {
                        return Err(AppError::forbidden(crate::web::extract::CSRF_REFUSAL));
                    }
                    token_checked = true;
                }
                "files" => {
                    if !token_checked {
                        return Err(AppError::forbidden(crate::web::extract::CSRF_REFUSAL));
                    }
                    let file_name = field.content_disposition().and_then(|d| d.get_filename()).unwrap_or("").to_owned();
                    if let Some(uploaded) = store_one(state, &mut field, &file_name, limit).await? {
                        stored.push(uploaded);
                    }
                }
                other => {
                    return Err(AppError::invalid(
                        "files",
                        format!("The form has an unknown field \"{other}\"; send each file in a field named files."),
                    ))
                }
            }
        }
        if stored.is_empty() {
            return Err(AppError::invalid("files", "Choose at least one file to attach."));
        }
        Ok(())
    }
    .await;
    match outcome {
        Ok(()) => Ok(stored),
        Err(error) => {
            forget(state, &stored).await;
            Err(error)
        }
    }
}

/// Removes objects whose rows will not be written; what fails here the cleanup job finds.
pub async fn forget(state: &AppState, stored: &[Uploaded]) {
    let data_keys: Vec<i64> = stored.iter().map(|file| file.data_key_id).collect();
    let removed = db::run(&state.pool, move |conn| Ok(crate::keys::shred(conn, &data_keys)?)).await;
    if let Err(error) = removed {
        tracing::warn!(%error, "the data keys of an unrecorded upload stay");
    }
    for file in stored {
        if let Err(error) = state.storage.delete(&file.key).await {
            tracing::warn!(key = %file.key, %error, "an unrecorded upload stays until the cleanup job removes it");
        }
    }
}

/// Streams one part into the store. `None` for the empty, nameless part a browser sends
/// when no file was chosen.
async fn store_one(
    state: &AppState,
    field: &mut Field,
    file_name: &str,
    limit: u64,
) -> Result<Option<Uploaded>, AppError> {
    let storage = &state.storage;
    // The head decides the type; it is sent on to the store first.
    let mut head = Vec::with_capacity(sniff::HEAD);
    let mut ended = false;
    while head.len() < sniff::HEAD {
        match field.next().await {
            Some(chunk) => head.extend_from_slice(&chunk.map_err(unreadable)?),
            None => {
                ended = true;
                break;
            }
        }
    }
    if head.is_empty() && ended && file_name.is_empty() {
        return Ok(None);
    }
    let file_name = check_name(file_name)?;
    if head.is_empty() && ended {
        return Err(AppError::invalid("files", format!("\"{file_name}\" is empty; there is nothing to attach.")));
    }
    let content_type = sniff::of(&head[..head.len().min(sniff::HEAD)]).to_owned();
    let key = super::random_object_key("attachments")?;
    let (sender, receiver) = mpsc::channel::<std::io::Result<Bytes>>(CHANNEL_CHUNKS);
    let body: ByteStream = Box::pin(futures_util::stream::unfold(receiver, |mut receiver| async move {
        receiver.recv().await.map(|chunk| (chunk, receiver))
    }));
    let feed = async move {
        if sender.send(Ok(Bytes::from(head))).await.is_err() {
            return Ok(());
        }
        if !ended {
            while let Some(chunk) = field.next().await {
                let chunk = chunk.map_err(|e| std::io::Error::other(e.to_string()));
                let failed = chunk.is_err();
                // The store stopped reading (the file passed its limit): stop feeding it.
                if sender.send(chunk).await.is_err() || failed {
                    break;
                }
            }
        }
        Ok::<(), AppError>(())
    };
    // Sealed on its way to the store, by a data key of its own bound to the object's key.
    let keys = state.keys.clone();
    let (data_key_id, data_key) =
        db::run(&state.pool, move |conn| keys.new_data_key(conn, crate::keys::Purpose::Attachment)).await?;
    let (body, measured) = crate::keys::stream::seal(&data_key, key.as_str(), body).map_err(AppError::internal)?;
    let sealed_limit = crate::keys::stream::sealed_size(limit);
    let (fed, put) = futures_util::join!(feed, storage.put(&key, body, sealed_limit, &content_type));
    fed?;
    let too_large = || {
        AppError::TooLarge(format!(
            "\"{file_name}\" is larger than the limit of {} MiB; nothing was attached.",
            limit / (1024 * 1024)
        ))
    };
    let stored = put.map_err(|error| match error {
        crate::storage::StorageError::TooLarge { .. } => too_large(),
        other => other.into(),
    });
    let (size, sha256) = {
        let measured = measured.lock().unwrap_or_else(|e| e.into_inner());
        (measured.size, measured.sha256.clone())
    };
    if stored.is_err() || size > limit {
        // The data key of what was not kept goes too.
        let _ = db::run(&state.pool, move |conn| Ok(crate::keys::shred(conn, &[data_key_id])?)).await;
        if stored.is_ok() {
            let _ = storage.delete(&key).await;
            return Err(too_large());
        }
    }
    stored?;
    Ok(Some(Uploaded { key, file_name, content_type, size, sha256, data_key_id }))
}
