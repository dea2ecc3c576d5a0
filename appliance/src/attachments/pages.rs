//! Attaching files to an issue, downloading them and removing them, from the issue page.
//!
//! Downloads never let a file act as part of Outpost's pages: the type is the one sniffed at
//! upload, only raster images are shown inline, everything else (HTML and SVG included) is
//! sent as a download, and each answer carries `nosniff` and a sandboxing CSP.

use std::collections::HashMap;

use actix_multipart::Multipart;
use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::{web, HttpResponse};
use futures_util::StreamExt;

use super::{upload, Attachment};
use crate::db;
use crate::errors::AppError;
use crate::identity::permissions::{authorize, Action};
use crate::storage::ObjectStore;
use crate::web::errors::PageError;
use crate::web::extract::{CsrfForm, SignedIn};
use crate::web::pages::redirect;
use crate::web::AppState;
use crate::work::issues;

/// `POST /issues/{key}/attachments`: the multipart form of the issue page (`csrf_token`
/// first, then one or more `files`).
pub async fn attach(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: Multipart,
) -> Result<HttpResponse, PageError> {
    let key = path.into_inner();
    let (user, lookup) = (signed_in.user().clone(), key.clone());
    let (_, issue) = db::run(&state.pool, move |conn| issues::find_editable(conn, &user, &lookup)).await?;
    let csrf = signed_in.session.csrf_token.clone();
    let files = upload::receive(&state.storage, form, Some(&csrf), state.config.storage.max_upload_bytes).await?;
    // The rows are written once every object is complete; if that fails, the objects go.
    let (actor, uploaded) = (signed_in.actor.clone(), files.clone());
    let recorded = db::run(&state.pool, move |conn| super::record(conn, &actor, &issue, &uploaded)).await;
    if let Err(error) = recorded {
        upload::forget(&state.storage, &files).await;
        return Err(error.into());
    }
    Ok(redirect(&format!("/issues/{key}#attachments")))
}

/// The attachment and whether `signed_in` may see (or, with `edit`, change) its issue.
async fn allowed(
    state: &AppState,
    signed_in: &SignedIn,
    id: i64,
    edit: bool,
) -> Result<(Attachment, String), AppError> {
    let user = signed_in.user().clone();
    db::run(&state.pool, move |conn| {
        let attachment = super::find(conn, id)?;
        let (project, issue) = issues::find_by_id(conn, attachment.issue_id)?;
        if edit {
            authorize(&user, Action::EditIssue(&project))?;
        } else {
            authorize(&user, Action::ViewProject(&project))?;
        }
        Ok((attachment, format!("{}-{}", project.key, issue.number)))
    })
    .await
}

/// `GET /attachments/{id}/{name}`: the bytes, streamed from the store.
pub async fn download(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<(i64, String)>,
) -> Result<HttpResponse, PageError> {
    let (id, _) = path.into_inner();
    let (attachment, _) = allowed(&state, &signed_in, id, false).await?;
    let key = crate::storage::ObjectKey::new(&attachment.object_key).map_err(AppError::from)?;
    let stream = state.storage.get(&key).await.map_err(AppError::from)?;
    let inline = attachment.is_image();
    let served_type = if inline { attachment.content_type.as_str() } else { "application/octet-stream" };
    let disposition = ContentDisposition {
        disposition: if inline { DispositionType::Inline } else { DispositionType::Attachment },
        parameters: vec![DispositionParam::Filename(attachment.file_name.clone())],
    };
    Ok(HttpResponse::Ok()
        .content_type(served_type)
        .insert_header(disposition)
        // The length is known, so browsers show progress; files are sent as stored, never
        // re-compressed (most are compressed already, and the length must stay true).
        .no_chunking(attachment.size_bytes as u64)
        .insert_header((header::CONTENT_ENCODING, "identity"))
        .insert_header((header::CONTENT_SECURITY_POLICY, "sandbox; default-src 'none'; img-src 'self'"))
        .insert_header((header::CACHE_CONTROL, "private, max-age=3600"))
        .insert_header((header::ETAG, format!("\"{}\"", attachment.sha256)))
        .streaming(stream.map(|chunk| chunk.map_err(actix_web::error::ErrorInternalServerError))))
}

/// `POST /attachments/{id}/delete`: gone from the issue at once; the object follows by job.
pub async fn remove(
    form: CsrfForm<HashMap<String, String>>,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let signed_in = form.signed_in;
    let (attachment, issue_key) = allowed(&state, &signed_in, path.into_inner(), true).await?;
    let actor = signed_in.actor.clone();
    db::run(&state.pool, move |conn| super::delete(conn, &actor, &attachment)).await?;
    Ok(redirect(&format!("/issues/{issue_key}#attachments")))
}
