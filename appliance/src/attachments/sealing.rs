//! Sealing files stored before customer-managed keys: each is copied sealed to a new object,
//! the row moved to it in one update, then the plain object removed. A stop anywhere leaves
//! either the row on its plain object or on its sealed one, and at most an orphan the sweep
//! removes; running it again goes on where it stopped.

use diesel::prelude::*;

use super::{random_object_key, Attachment};
use crate::db::{self, DbPool};
use crate::errors::AppError;
use crate::keys::{stream, Keyring, Purpose};
use crate::schema::attachments;
use crate::storage::{ObjectKey, ObjectStore, Storage};

/// Which of an attachment's objects.
#[derive(Clone, Copy)]
enum Part {
    File,
    Thumbnail,
}

/// Seals every plain file and thumbnail, `batch` rows at a time; calls `progress(done)` after
/// each object. Returns how many objects were sealed.
pub async fn seal_plain_files(
    storage: &Storage,
    pool: &DbPool,
    keys: &std::sync::Arc<Keyring>,
    mut progress: impl FnMut(usize),
) -> Result<usize, AppError> {
    let mut done = 0;
    for part in [Part::File, Part::Thumbnail] {
        loop {
            let plain: Vec<Attachment> = db::run(pool, move |conn| {
                let rows = attachments::table.select(Attachment::as_select()).order(attachments::id).limit(50);
                Ok(match part {
                    Part::File => rows.filter(attachments::data_key_id.is_null()).load(conn)?,
                    Part::Thumbnail => rows
                        .filter(attachments::thumbnail_key.is_not_null())
                        .filter(attachments::thumbnail_data_key_id.is_null())
                        .load(conn)?,
                })
            })
            .await?;
            if plain.is_empty() {
                break;
            }
            for row in plain {
                seal_one(storage, pool, keys, &row, part).await?;
                done += 1;
                progress(done);
            }
        }
    }
    Ok(done)
}

async fn seal_one(
    storage: &Storage,
    pool: &DbPool,
    keys: &std::sync::Arc<Keyring>,
    row: &Attachment,
    part: Part,
) -> Result<(), AppError> {
    let (old, folder) = match part {
        Part::File => (row.object_key.clone(), "attachments"),
        Part::Thumbnail => (row.thumbnail_key.clone().unwrap_or_default(), super::thumbnails::FOLDER),
    };
    let old = ObjectKey::new(&old)?;
    let new = random_object_key(folder)?;
    let keyring = keys.clone();
    let (data_key_id, data_key) = db::run(pool, move |conn| keyring.new_data_key(conn, Purpose::Attachment)).await?;
    let size = storage.size(&old).await?.unwrap_or_default();
    let (body, _) = stream::seal(&data_key, new.as_str(), storage.get(&old).await?).map_err(AppError::internal)?;
    storage.put(&new, body, stream::sealed_size(size), &row.content_type).await?;
    let (id, new_key) = (row.id, new.as_str().to_owned());
    let moved = db::run(pool, move |conn| {
        Ok(match part {
            Part::File => diesel::update(attachments::table.find(id).filter(attachments::data_key_id.is_null()))
                .set((attachments::object_key.eq(&new_key), attachments::data_key_id.eq(data_key_id)))
                .execute(conn)?,
            Part::Thumbnail => {
                diesel::update(attachments::table.find(id).filter(attachments::thumbnail_data_key_id.is_null()))
                    .set((attachments::thumbnail_key.eq(&new_key), attachments::thumbnail_data_key_id.eq(data_key_id)))
                    .execute(conn)?
            }
        })
    })
    .await?;
    // Moved: the plain object goes. Not moved (the row went meanwhile): the sealed copy goes.
    let (remove, key_left) = if moved == 1 { (old, None) } else { (new, Some(data_key_id)) };
    if let Some(data_key_id) = key_left {
        db::run(pool, move |conn| Ok(crate::keys::shred(conn, &[data_key_id])?)).await?;
    }
    storage.delete(&remove).await?;
    Ok(())
}
