//! Thumbnails of attached pictures, made by a job after the upload: the original is read
//! from the store (pictures up to `SOURCE_MAX_BYTES`), decoded within fixed limits (a small
//! file claiming a gigapixel is refused, not allocated), scaled to fit `SIDE` pixels and
//! stored as PNG beside the attachments. A picture that gets no thumbnail gets a note saying why.

use diesel::prelude::*;
use futures_util::StreamExt;
use serde_json::json;

use super::{with_storage, Attachment};
use crate::identity::secrets::random_hex;
use crate::jobs::queue::{self, Failure, Job, NewJob};
use crate::jobs::worker::Context;
use crate::schema::attachments;
use crate::storage::{ObjectKey, ObjectStore};

/// The store folder thumbnails live in.
pub const FOLDER: &str = "thumbnails";
/// The job kind that makes one.
pub const JOB: &str = "attachments.thumbnail";
/// The longest side of a thumbnail, in pixels.
pub const SIDE: u32 = 320;
/// Pictures larger than this get no thumbnail (they are still shown when opened).
pub const SOURCE_MAX_BYTES: i64 = 40 * 1024 * 1024;
/// The largest picture decoded, per side.
const DECODE_MAX_SIDE: u32 = 12_000;

/// Types thumbnails are made from.
fn decodable(content_type: &str) -> Option<image::ImageFormat> {
    match content_type {
        "image/png" => Some(image::ImageFormat::Png),
        "image/jpeg" => Some(image::ImageFormat::Jpeg),
        "image/gif" => Some(image::ImageFormat::Gif),
        "image/webp" => Some(image::ImageFormat::WebP),
        _ => None,
    }
}

/// Why a picture of `content_type` and `size` gets no thumbnail, if it gets none.
pub fn refusal(content_type: &str, size: i64) -> Option<String> {
    if !content_type.starts_with("image/") {
        return None;
    }
    if content_type == "image/svg+xml" {
        return Some("No preview: SVG pictures can carry scripts, so they are only downloaded.".to_owned());
    }
    if decodable(content_type).is_none() {
        let kind = content_type.trim_start_matches("image/").to_uppercase();
        return Some(format!("No preview: {kind} pictures are not previewed (PNG, JPEG, GIF and WebP are)."));
    }
    if size > SOURCE_MAX_BYTES {
        return Some(format!("No preview: pictures over {} MB are not previewed.", SOURCE_MAX_BYTES / (1024 * 1024)));
    }
    None
}

/// In the upload's transaction: queue a thumbnail for a picture, or note why there is none.
pub fn queue_for(conn: &mut PgConnection, row: &Attachment) -> QueryResult<()> {
    if let Some(note) = refusal(&row.content_type, row.size_bytes) {
        return diesel::update(attachments::table.find(row.id))
            .set(attachments::thumbnail_note.eq(note))
            .execute(conn)
            .map(drop);
    }
    if decodable(&row.content_type).is_some() {
        let job = NewJob::new(JOB, json!({ "attachment_id": row.id }))
            .with_idempotency_key(format!("thumbnail:{}", row.id))
            .with_max_attempts(5);
        queue::enqueue(conn, &job)?;
    }
    Ok(())
}

/// Scales `bytes` of `format` to fit `SIDE`, as PNG.
pub fn scale(bytes: &[u8], format: image::ImageFormat) -> Result<Vec<u8>, String> {
    let mut reader = image::ImageReader::with_format(std::io::Cursor::new(bytes), format);
    let mut limits = image::Limits::default();
    limits.max_image_width = Some(DECODE_MAX_SIDE);
    limits.max_image_height = Some(DECODE_MAX_SIDE);
    limits.max_alloc = Some(256 * 1024 * 1024);
    reader.limits(limits);
    let picture = reader.decode().map_err(|e| e.to_string())?;
    let small = picture.thumbnail(SIDE, SIDE);
    let mut png = Vec::new();
    small.write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png).map_err(|e| e.to_string())?;
    Ok(png)
}

/// Runs an `attachments.thumbnail` job.
pub fn make(context: &Context, job: &Job) -> Result<(), Failure> {
    let id = job.payload["attachment_id"].as_i64().ok_or_else(|| Failure::permanent("the job names no attachment"))?;
    let mut conn = context.conn()?;
    let row: Option<Attachment> =
        attachments::table.find(id).select(Attachment::as_select()).first(&mut conn).optional()?;
    // Removed meanwhile, or made already by an earlier attempt: nothing to do.
    let Some(row) = row.filter(|row| row.thumbnail_key.is_none()) else { return Ok(()) };
    let format = decodable(&row.content_type).ok_or_else(|| Failure::permanent("not a previewed type"))?;
    let source = ObjectKey::new(&row.object_key).map_err(|e| Failure::permanent(e.to_string()))?;
    let target = ObjectKey::new(&format!("{FOLDER}/{}/{}.png", random_hex(1), random_hex(16)))
        .map_err(|e| Failure::permanent(e.to_string()))?;
    let source_key = row.data_key_id.map(|id| context.keys.data_key(&mut conn, id)).transpose()?;
    let (target_key_id, target_key) = context.keys.new_data_key(&mut conn, crate::keys::Purpose::Attachment)?;
    let made = with_storage(context, async |storage| {
        let stream = storage.get(&source).await.map_err(|e| Failure::retry(e.to_string()))?;
        let mut stream = match &source_key {
            Some(key) => {
                crate::keys::stream::open(key, source.as_str(), stream).map_err(|e| Failure::retry(e.to_string()))?
            }
            None => stream,
        };
        let mut bytes = Vec::with_capacity(row.size_bytes as usize);
        while let Some(chunk) = stream.next().await {
            bytes.extend_from_slice(&chunk.map_err(|e| Failure::retry(e.to_string()))?);
            if bytes.len() as i64 > SOURCE_MAX_BYTES {
                return Err(Failure::permanent("the picture is larger than its row says"));
            }
        }
        let png = match scale(&bytes, format) {
            Ok(png) => png,
            Err(reason) => return Ok(Err(reason)),
        };
        let size = crate::keys::stream::sealed_size(png.len() as u64);
        let body: crate::storage::ByteStream =
            Box::pin(futures_util::stream::once(async move { Ok(bytes::Bytes::from(png)) }));
        let (body, _) = crate::keys::stream::seal(&target_key, target.as_str(), body)
            .map_err(|e| Failure::permanent(e.to_string()))?;
        storage.put(&target, body, size, "image/png").await.map_err(|e| Failure::retry(e.to_string()))?;
        Ok(Ok(()))
    });
    let made = match made {
        Ok(made) => made,
        Err(failure) => {
            // The next attempt makes a key of its own.
            crate::keys::shred(&mut conn, &[target_key_id])?;
            return Err(failure);
        }
    };
    let update = attachments::table.find(id);
    match made {
        Ok(()) => {
            // If the row went while we worked, the thumbnail is an orphan the sweep removes.
            diesel::update(update)
                .set((
                    attachments::thumbnail_key.eq(target.as_str()),
                    attachments::thumbnail_data_key_id.eq(target_key_id),
                ))
                .execute(&mut conn)?;
        }
        Err(reason) => {
            crate::keys::shred(&mut conn, &[target_key_id])?;
            let note = format!("No preview: the picture could not be read ({reason}).");
            diesel::update(update).set(attachments::thumbnail_note.eq(note)).execute(&mut conn)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn png(width: u32, height: u32) -> Vec<u8> {
        let picture = image::RgbImage::from_pixel(width, height, image::Rgb([200, 30, 30]));
        let mut bytes = Vec::new();
        picture.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).expect("encode");
        bytes
    }

    fn crc32(bytes: &[u8]) -> u32 {
        let mut crc = 0xffff_ffffu32;
        for &byte in bytes {
            crc ^= u32::from(byte);
            for _ in 0..8 {
                crc = if crc & 1 == 1 { (crc >> 1) ^ 0xedb8_8320 } else { crc >> 1 };
            }
        }
        !crc
    }

    #[test]
    fn a_picture_is_scaled_to_fit_the_thumbnail_side_keeping_its_shape() {
        let small = scale(&png(1000, 500), image::ImageFormat::Png).expect("scaled");
        let decoded = image::load_from_memory(&small).expect("a PNG");
        assert_eq!((decoded.width(), decoded.height()), (SIDE, SIDE / 2));
    }

    #[test]
    fn unreadable_and_unsupported_pictures_are_refused_with_a_reason() {
        let broken = scale(b"\x89PNG\r\n\x1a\nnot really", image::ImageFormat::Png);
        assert!(broken.is_err());
        assert_eq!(
            refusal("image/tiff", 10).as_deref(),
            Some("No preview: TIFF pictures are not previewed (PNG, JPEG, GIF and WebP are).")
        );
        assert!(refusal("image/svg+xml", 10).unwrap().contains("scripts"));
        assert!(refusal("image/png", SOURCE_MAX_BYTES + 1).unwrap().contains("over 40 MB"));
        assert_eq!(refusal("image/png", 10), None);
        assert_eq!(refusal("application/pdf", 10), None);
    }

    #[test]
    fn a_picture_claiming_huge_dimensions_is_refused_not_allocated() {
        // A valid PNG header that claims 100000 x 100000 pixels.
        let mut header = png(1, 1);
        header[16..20].copy_from_slice(&100_000u32.to_be_bytes());
        header[20..24].copy_from_slice(&100_000u32.to_be_bytes());
        // The IHDR chunk's CRC (over its type and data) is made right, so only the limits refuse it.
        let crc = crc32(&header[12..29]);
        header[29..33].copy_from_slice(&crc.to_be_bytes());
        let refused = scale(&header, image::ImageFormat::Png).expect_err("refused");
        assert!(refused.contains("limit"), "{refused}");
    }
}
