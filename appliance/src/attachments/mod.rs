//! Files attached to issues and pages: their rows (name, sniffed type, size, SHA-256, who and when), the
//! rules a file must meet, and what deleting one does. The bytes live in the object store
//! (`storage`); a row exists only once its object is complete, and is written in one
//! transaction with its audit row. A deleted row's object is removed by a `storage.delete`
//! job, so a slow or absent store never blocks the delete a person asked for.

pub mod api;
pub mod pages;
pub mod sealing;
pub mod sniff;
pub mod thumbnails;
pub mod upload;

use std::collections::HashSet;

use chrono::{DateTime, Utc};
use diesel::prelude::*;
use serde::Serialize;
use serde_json::json;

use crate::audit::{self, Actor, Change};
use crate::errors::AppError;
use crate::jobs::queue::{self, Failure, Job, NewJob};
use crate::jobs::worker::Context;
use crate::schema::{attachments, users};
use crate::storage::{ObjectKey, ObjectStore, Storage};
use crate::web::pages::url_encode;

/// The longest file name kept (bytes of UTF-8).
pub const NAME_MAX: usize = 255;

#[derive(Clone, Debug, Queryable, Selectable, Serialize)]
#[diesel(table_name = attachments)]
pub struct Attachment {
    pub id: i64,
    pub issue_id: Option<i64>,
    #[serde(skip)]
    pub object_key: String,
    pub file_name: String,
    pub content_type: String,
    pub size_bytes: i64,
    pub sha256: String,
    #[serde(skip)]
    pub uploaded_by: i64,
    pub created_at: DateTime<Utc>,
    pub page_id: Option<i64>,
    #[serde(skip)]
    pub thumbnail_key: Option<String>,
    /// Why a picture has no thumbnail (its type is not previewed, or it could not be read).
    pub thumbnail_note: Option<String>,
    /// The data key the stored bytes are sealed with (none for files stored before keys).
    #[serde(skip)]
    pub data_key_id: Option<i64>,
    #[serde(skip)]
    pub thumbnail_data_key_id: Option<i64>,
}

/// What a file is attached to: exactly one issue or one page (the table's CHECK says so too).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Owner {
    Issue(i64),
    Page(i64),
}

impl Owner {
    /// The audit row's entity.
    fn entity(self) -> (&'static str, i64) {
        match self {
            Owner::Issue(id) => ("issue", id),
            Owner::Page(id) => ("page", id),
        }
    }
}

impl Attachment {
    pub fn owner(&self) -> Owner {
        match (self.issue_id, self.page_id) {
            (Some(issue), _) => Owner::Issue(issue),
            (None, Some(page)) => Owner::Page(page),
            // The CHECK constraint makes this impossible; a row without owner would be no one's.
            (None, None) => Owner::Page(0),
        }
    }

    /// Where the thumbnail is shown from, once one was made.
    pub fn thumbnail_url(&self) -> Option<String> {
        self.thumbnail_key.as_ref().map(|_| format!("/thumbnails/{}", self.id))
    }

    /// Served inline (and previewed when it has a thumbnail); every other type is a download.
    pub fn is_image(&self) -> bool {
        sniff::is_inline_image(&self.content_type)
    }

    /// "1.4 MB", "812 KB", "96 bytes".
    pub fn size_text(&self) -> String {
        let size = self.size_bytes as f64;
        match self.size_bytes {
            n if n >= 1024 * 1024 => format!("{:.1} MB", size / (1024.0 * 1024.0)),
            n if n >= 1024 => format!("{:.0} KB", size / 1024.0),
            n => format!("{n} bytes"),
        }
    }

    /// Where the file is downloaded (or shown) from.
    pub fn url(&self) -> String {
        // `check_name` keeps `/` out of file names, so the name stays one path segment.
        format!("/attachments/{}/{}", self.id, url_encode(&self.file_name))
    }
}

/// A file name as given by a browser or client, checked: not empty, not too long, and
/// nothing that could mean a folder or fool a terminal or header.
pub fn check_name(name: &str) -> Result<String, AppError> {
    let name = name.trim();
    if name.is_empty() {
        return Err(AppError::invalid("files", "A file has no name; give every file a name."));
    }
    if name.len() > NAME_MAX {
        return Err(AppError::invalid("files", format!("The file name \"{name}\" is longer than {NAME_MAX} bytes.")));
    }
    if name.contains(['/', '\\']) || name == "." || name == ".." {
        return Err(AppError::invalid(
            "files",
            format!("The file name \"{name}\" contains a folder separator; name the file itself."),
        ));
    }
    if name.chars().any(char::is_control) {
        return Err(AppError::invalid("files", "A file name contains control characters; rename the file."));
    }
    Ok(name.to_owned())
}

/// A file that reached the store complete, waiting for its row.
#[derive(Clone)]
pub struct Uploaded {
    pub key: ObjectKey,
    pub file_name: String,
    pub content_type: String,
    /// Of the file as uploaded, not as sealed.
    pub size: u64,
    pub sha256: String,
    pub data_key_id: i64,
}

#[derive(Insertable)]
#[diesel(table_name = attachments)]
struct NewRow<'a> {
    issue_id: Option<i64>,
    page_id: Option<i64>,
    object_key: &'a str,
    file_name: &'a str,
    content_type: &'a str,
    size_bytes: i64,
    sha256: &'a str,
    uploaded_by: i64,
    data_key_id: Option<i64>,
}

/// Records `files` on `owner`, all or none, each with its audit row and outbox event, and
/// queues a thumbnail for each picture.
pub fn record(
    conn: &mut PgConnection,
    actor: &Actor,
    owner: Owner,
    files: &[Uploaded],
) -> Result<Vec<Attachment>, AppError> {
    let (entity_type, entity_id) = owner.entity();
    let uploader = actor.user_id.ok_or_else(|| AppError::forbidden("Sign in to attach files."))?;
    conn.transaction(|conn| {
        let mut recorded = Vec::with_capacity(files.len());
        for file in files {
            let row: Attachment = diesel::insert_into(attachments::table)
                .values(NewRow {
                    issue_id: match owner {
                        Owner::Issue(id) => Some(id),
                        Owner::Page(_) => None,
                    },
                    page_id: match owner {
                        Owner::Page(id) => Some(id),
                        Owner::Issue(_) => None,
                    },
                    object_key: file.key.as_str(),
                    file_name: &file.file_name,
                    content_type: &file.content_type,
                    size_bytes: file.size as i64,
                    sha256: &file.sha256,
                    uploaded_by: uploader,
                    data_key_id: Some(file.data_key_id),
                })
                .returning(Attachment::as_returning())
                .get_result(conn)?;
            let after = json!({ "attachment_id": row.id, "file_name": row.file_name, "size": row.size_bytes, "sha256": row.sha256 });
            audit::record(
                conn,
                actor,
                Change { action: "attachment.added", entity_type, entity_id, before: None, after: Some(after) },
            )?;
            thumbnails::queue_for(conn, &row)?;
            recorded.push(row);
        }
        Ok(recorded)
    })
}

/// An issue's or page's files, oldest first, with who attached each.
pub fn of_owner(conn: &mut PgConnection, owner: Owner) -> QueryResult<Vec<(Attachment, String)>> {
    let query = attachments::table.inner_join(users::table).into_boxed();
    let query = match owner {
        Owner::Issue(id) => query.filter(attachments::issue_id.eq(id)),
        Owner::Page(id) => query.filter(attachments::page_id.eq(id)),
    };
    query.order(attachments::id).select((Attachment::as_select(), users::display_name)).load(conn)
}

pub fn find(conn: &mut PgConnection, id: i64) -> Result<Attachment, AppError> {
    attachments::table
        .find(id)
        .select(Attachment::as_select())
        .first(conn)
        .optional()?
        .ok_or_else(|| AppError::not_found(format!("There is no attachment {id}.")))
}

/// A new, unguessable object key in `folder`.
pub fn random_object_key(folder: &str) -> Result<ObjectKey, crate::storage::StorageError> {
    ObjectKey::new(&format!(
        "{folder}/{}/{}",
        crate::identity::secrets::random_hex(1),
        crate::identity::secrets::random_hex(16)
    ))
}

/// The stored bytes of the object `key` as they were uploaded: opened with its data key when
/// it is sealed (files stored before customer-managed keys are not).
pub async fn opened(
    storage: &Storage,
    pool: &crate::db::DbPool,
    keys: &std::sync::Arc<crate::keys::Keyring>,
    key: &ObjectKey,
    data_key_id: Option<i64>,
) -> Result<crate::storage::ByteStream, AppError> {
    let stream = storage.get(key).await?;
    let Some(data_key_id) = data_key_id else { return Ok(stream) };
    let keyring = keys.clone();
    let data_key = crate::db::run(pool, move |conn| keyring.data_key(conn, data_key_id)).await?;
    crate::keys::stream::open(&data_key, key.as_str(), stream).map_err(AppError::internal)
}

/// Removes the row now (with its audit row) and queues the removal of its objects.
pub fn delete(conn: &mut PgConnection, actor: &Actor, attachment: &Attachment) -> Result<(), AppError> {
    let (entity_type, entity_id) = attachment.owner().entity();
    conn.transaction(|conn| {
        diesel::delete(attachments::table.find(attachment.id)).execute(conn)?;
        // Without its data keys the sealed objects are unreadable at once, whenever the job
        // gets to removing them.
        let keys: Vec<i64> = [attachment.data_key_id, attachment.thumbnail_data_key_id].into_iter().flatten().collect();
        crate::keys::shred(conn, &keys)?;
        let before =
            json!({ "attachment_id": attachment.id, "file_name": attachment.file_name, "sha256": attachment.sha256 });
        audit::record(
            conn,
            actor,
            Change { action: "attachment.removed", entity_type, entity_id, before: Some(before), after: None },
        )?;
        for key in std::iter::once(&attachment.object_key).chain(attachment.thumbnail_key.as_ref()) {
            let job = NewJob::new(DELETE_OBJECT, json!({ "key": key })).with_idempotency_key(format!("delete:{key}"));
            queue::enqueue(conn, &job)?;
        }
        Ok(())
    })
}

/// The job kind that removes an object whose row is gone.
pub const DELETE_OBJECT: &str = "storage.delete";

/// Runs a `storage.delete` job: an unreachable store is retried later, like any job.
pub fn delete_object(context: &Context, job: &Job) -> Result<(), Failure> {
    let key = job.payload["key"].as_str().ok_or_else(|| Failure::permanent("the job names no key"))?;
    let key = ObjectKey::new(key).map_err(|e| Failure::permanent(e.to_string()))?;
    with_storage(context, async |storage| storage.delete(&key).await.map_err(|e| Failure::retry(e.to_string())))
}

/// Objects younger than this may be uploads whose row is still on its way; the sweep spares them.
pub const ORPHAN_GRACE_MINUTES: i64 = 60;

/// The folders of the store that hold attachment bytes and their thumbnails.
const SWEPT_FOLDERS: [&str; 2] = ["attachments", thumbnails::FOLDER];

/// Removes objects no row points to (an upload that died before its commit, the files of a
/// deleted issue) once they are older than the grace period. Returns how many went.
pub fn sweep_orphans(context: &Context) -> Result<usize, Failure> {
    let cutoff = Utc::now() - chrono::Duration::minutes(ORPHAN_GRACE_MINUTES);
    with_storage(context, async |storage| {
        let mut removed = 0;
        for folder in SWEPT_FOLDERS {
            let listed = storage.list(folder).await.map_err(|e| Failure::retry(e.to_string()))?;
            let old: Vec<ObjectKey> =
                listed.into_iter().filter(|entry| entry.modified < cutoff).map(|entry| entry.key).collect();
            for batch in old.chunks(1000) {
                let names: Vec<&str> = batch.iter().map(ObjectKey::as_str).collect();
                let mut conn = context.conn()?;
                let mut owned: HashSet<String> = attachments::table
                    .filter(attachments::object_key.eq_any(&names))
                    .select(attachments::object_key)
                    .load(&mut conn)?
                    .into_iter()
                    .collect();
                let thumbnails: Vec<Option<String>> = attachments::table
                    .filter(attachments::thumbnail_key.eq_any(&names))
                    .select(attachments::thumbnail_key)
                    .load(&mut conn)?;
                owned.extend(thumbnails.into_iter().flatten());
                for key in batch.iter().filter(|key| !owned.contains(key.as_str())) {
                    storage.delete(key).await.map_err(|e| Failure::retry(e.to_string()))?;
                    removed += 1;
                }
            }
        }
        Ok(removed)
    })
}

/// Runs `work` with the configured store, on a small runtime of this job thread's own.
pub fn with_storage<T>(context: &Context, work: impl AsyncFnOnce(Storage) -> Result<T, Failure>) -> Result<T, Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::retry(format!("cannot start a runtime: {e}")))?;
    runtime.block_on(async {
        let storage = Storage::open(&context.config.storage).await.map_err(|e| Failure::retry(e.to_string()))?;
        work(storage).await
    })
}
