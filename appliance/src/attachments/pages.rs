//! Attaching files to an issue or page, downloading them (and pictures' thumbnails) and
//! removing them, from the issue and page views.
//!
//! Downloads never let a file act as part of Outpost's pages: the type is the one sniffed at
//! upload, only raster images are shown inline, everything else (HTML and SVG included) is
//! sent as a download, and each answer carries `nosniff` and a sandboxing CSP.

use std::collections::HashMap;

use actix_multipart::Multipart;
use actix_web::http::header::{self, ContentDisposition, DispositionParam, DispositionType};
use actix_web::{web, HttpResponse};
use futures_util::StreamExt;

use diesel::PgConnection;

use super::{upload, Attachment, Owner};
use crate::audit::Actor;
use crate::errors::AppError;
use crate::identity::permissions::{authorize, Action};
use crate::identity::users::User;
use crate::storage::{ObjectKey, ObjectStore};
use crate::web::errors::PageError;
use crate::web::extract::{CsrfForm, SignedIn};
use crate::web::pages::redirect;
use crate::web::AppState;
use crate::work::issues::{self, Issue};
use crate::work::projects::Project;
use crate::{db, docs};

/// `POST /issues/{key}/attachments`: the multipart form of the issue page (`csrf_token`
/// first, then one or more `files`).
pub async fn attach_to_issue(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<String>,
    form: Multipart,
) -> Result<HttpResponse, PageError> {
    let key = path.into_inner();
    let (user, lookup) = (signed_in.user().clone(), key.clone());
    let (_, issue) = db::run(&state.pool, move |conn| issues::find_editable(conn, &user, &lookup)).await?;
    let csrf = signed_in.session.csrf_token.clone();
    receive_and_record(&state, &signed_in.actor, Owner::Issue(issue.id), form, Some(&csrf)).await?;
    Ok(redirect(&format!("/issues/{key}#attachments")))
}

/// `POST /pages/{id}/attachments`: the same form on a documentation page.
pub async fn attach_to_page(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    form: Multipart,
) -> Result<HttpResponse, PageError> {
    let page_id = path.into_inner();
    let user = signed_in.user().clone();
    db::run(&state.pool, move |conn| docs::pages::find_allowed(conn, &user, page_id, |space| Action::EditPages(space)))
        .await?;
    let csrf = signed_in.session.csrf_token.clone();
    receive_and_record(&state, &signed_in.actor, Owner::Page(page_id), form, Some(&csrf)).await?;
    Ok(redirect(&format!("/pages/{page_id}#attachments")))
}

/// Streams the form's files into the store, then writes their rows; if the rows cannot be
/// written, the objects go again. `csrf` is checked first unless the caller is an API client.
pub async fn receive_and_record(
    state: &AppState,
    actor: &Actor,
    owner: Owner,
    form: Multipart,
    csrf: Option<&str>,
) -> Result<Vec<Attachment>, AppError> {
    let files = upload::receive(state, form, csrf).await?;
    let (actor, uploaded) = (actor.clone(), files.clone());
    let recorded = db::run(&state.pool, move |conn| super::record(conn, &actor, owner, &uploaded)).await;
    if recorded.is_err() {
        upload::forget(state, &files).await;
    }
    recorded
}

/// Checks `user` may see (or, with `edit`, change) what `owner` is; answers where its page is.
pub fn owner_place(conn: &mut PgConnection, user: &User, owner: Owner, edit: bool) -> Result<String, AppError> {
    match owner {
        Owner::Issue(id) => {
            let (project, issue) = issues::find_by_id(conn, id)?;
            let action: for<'a> fn(&'a Project, &'a Issue) -> Action<'a> =
                if edit { |p, i| Action::EditIssue(p, i) } else { |p, _| Action::ViewProject(p) };
            issues::authorize_on(user, &project, &issue, action)?;
            Ok(format!("/issues/{}-{}", project.key, issue.number))
        }
        Owner::Page(id) => {
            let (space, _) = docs::pages::find_allowed(conn, user, id, |space| Action::ViewSpace(space))?;
            if edit {
                authorize(user, Action::EditPages(&space))?;
            }
            Ok(format!("/pages/{id}"))
        }
    }
}

/// The attachment and where its owner's page is, once `user` may see (or change) the owner.
pub fn find_allowed(
    conn: &mut PgConnection,
    user: &User,
    id: i64,
    edit: bool,
) -> Result<(Attachment, String), AppError> {
    let attachment = super::find(conn, id)?;
    let place = owner_place(conn, user, attachment.owner(), edit)?;
    Ok((attachment, place))
}

async fn allowed(
    state: &AppState,
    signed_in: &SignedIn,
    id: i64,
    edit: bool,
) -> Result<(Attachment, String), AppError> {
    let user = signed_in.user().clone();
    db::run(&state.pool, move |conn| find_allowed(conn, &user, id, edit)).await
}

/// `GET /attachments/{id}/{name}`: the bytes, streamed from the store.
pub async fn download(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<(i64, String)>,
) -> Result<HttpResponse, PageError> {
    let (id, _) = path.into_inner();
    let (attachment, _) = allowed(&state, &signed_in, id, false).await?;
    Ok(send(&state, &attachment).await?)
}

/// The file's bytes as an answer that can never act as one of Outpost's pages.
pub async fn send(state: &AppState, attachment: &Attachment) -> Result<HttpResponse, AppError> {
    let key = ObjectKey::new(&attachment.object_key)?;
    let stream = super::opened(&state.storage, &state.pool, &state.keys, &key, attachment.data_key_id).await?;
    let inline = attachment.is_image();
    let served_type = if inline { attachment.content_type.as_str() } else { "application/octet-stream" };
    let disposition = ContentDisposition {
        disposition: if inline { DispositionType::Inline } else { DispositionType::Attachment },
        parameters: vec![DispositionParam::Filename(attachment.file_name.clone())],
    };
    Ok(safe_file_answer(attachment.size_bytes as u64, &attachment.sha256)
        .content_type(served_type)
        .insert_header(disposition)
        .streaming(stream.map(|chunk| chunk.map_err(actix_web::error::ErrorInternalServerError))))
}

/// Headers every stored file is sent with.
fn safe_file_answer(size: u64, etag: &str) -> actix_web::HttpResponseBuilder {
    let mut answer = HttpResponse::Ok();
    // The length is known, so browsers show progress; files are sent as stored, never
    // re-compressed (most are compressed already, and the length must stay true).
    answer
        .no_chunking(size)
        .insert_header((header::CONTENT_ENCODING, "identity"))
        .insert_header((header::CONTENT_SECURITY_POLICY, "sandbox; default-src 'none'; img-src 'self'"))
        .insert_header((header::CACHE_CONTROL, "private, max-age=3600"))
        .insert_header((header::ETAG, format!("\"{etag}\"")));
    answer
}

/// `GET /thumbnails/{id}`: the picture's small PNG, once the job has made it.
pub async fn thumbnail(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let (attachment, _) = allowed(&state, &signed_in, path.into_inner(), false).await?;
    let missing = || AppError::not_found(format!("\"{}\" has no thumbnail.", attachment.file_name));
    let key = ObjectKey::new(attachment.thumbnail_key.as_deref().ok_or_else(missing)?).map_err(AppError::from)?;
    state.storage.size(&key).await.map_err(AppError::from)?.ok_or_else(missing)?;
    // Thumbnails are small: opened whole, so that the length sent is the picture's.
    let mut stream =
        super::opened(&state.storage, &state.pool, &state.keys, &key, attachment.thumbnail_data_key_id).await?;
    let mut png = Vec::new();
    while let Some(chunk) = stream.next().await {
        png.extend_from_slice(&chunk.map_err(AppError::internal)?);
    }
    Ok(safe_file_answer(png.len() as u64, &format!("thumb-{}", attachment.sha256))
        .content_type("image/png")
        .insert_header(ContentDisposition { disposition: DispositionType::Inline, parameters: vec![] })
        .body(png))
}

/// `POST /attachments/{id}/delete`: gone from the issue at once; the object follows by job.
pub async fn remove(
    form: CsrfForm<HashMap<String, String>>,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let signed_in = form.signed_in;
    let (attachment, place) = allowed(&state, &signed_in, path.into_inner(), true).await?;
    let actor = signed_in.actor.clone();
    db::run(&state.pool, move |conn| super::delete(conn, &actor, &attachment)).await?;
    Ok(redirect(&format!("{place}#attachments")))
}
