//! Attachments over the REST API: list an issue's or page's files, upload (multipart, the
//! same streaming and rules as the pages), read one's record, download its bytes, delete it.

use actix_multipart::Multipart;
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::pages::{find_allowed, owner_place, receive_and_record, send};
use super::{Attachment, Owner};
use crate::db;
use crate::docs::api::PageIdPath;
use crate::web::errors::ApiError;
use crate::web::extract::ApiCaller;
use crate::web::openapi::IssuePath;
use crate::web::AppState;
use crate::work::issues;

type ApiResult = Result<HttpResponse, ApiError>;

/// A file as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct AttachmentBody {
    id: i64,
    /// The issue's key, when the file is attached to an issue.
    issue: Option<String>,
    /// The page's id, when the file is attached to a documentation page.
    page_id: Option<i64>,
    file_name: String,
    /// Sniffed from the bytes at upload, never taken from the client.
    content_type: String,
    size_bytes: i64,
    /// Hex SHA-256 of the bytes.
    sha256: String,
    uploaded_by: String,
    created_at: chrono::DateTime<chrono::Utc>,
    /// Where the bytes are downloaded from (with the same token).
    content_url: String,
    /// A small PNG of a picture, once made; otherwise `thumbnail_note` may say why there is none.
    thumbnail_url: Option<String>,
    thumbnail_note: Option<String>,
}

impl AttachmentBody {
    fn new(attachment: Attachment, uploaded_by: String, issue: Option<String>) -> Self {
        AttachmentBody {
            content_url: format!("/api/v1/attachments/{}/content", attachment.id),
            thumbnail_url: attachment.thumbnail_url(),
            id: attachment.id,
            issue,
            page_id: attachment.page_id,
            file_name: attachment.file_name,
            content_type: attachment.content_type,
            size_bytes: attachment.size_bytes,
            sha256: attachment.sha256,
            uploaded_by,
            created_at: attachment.created_at,
            thumbnail_note: attachment.thumbnail_note,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct AttachmentList {
    attachments: Vec<AttachmentBody>,
}

/// The multipart form of an upload: one or more `files` parts, each with a file name.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[allow(dead_code)] // Describes the form to the OpenAPI document; the bytes are streamed, never held.
pub struct UploadForm {
    #[schema(value_type = Vec<String>, format = Binary, min_items = 1)]
    files: Vec<Vec<u8>>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct AttachmentPath {
    /// The attachment's id.
    #[param(example = 1)]
    pub id: i64,
}

/// The owner an issue key names, once the caller may see it (or, with `edit`, change it).
async fn issue_owner(state: &AppState, caller: &ApiCaller, key: String, edit: bool) -> Result<Owner, ApiError> {
    let user = caller.user.clone();
    Ok(db::run(&state.pool, move |conn| {
        let (_, issue) = issues::find_by_key(conn, &key)?;
        owner_place(conn, &user, Owner::Issue(issue.id), edit)?;
        Ok(Owner::Issue(issue.id))
    })
    .await?)
}

async fn page_owner(state: &AppState, caller: &ApiCaller, id: i64, edit: bool) -> Result<Owner, ApiError> {
    let user = caller.user.clone();
    Ok(db::run(&state.pool, move |conn| {
        owner_place(conn, &user, Owner::Page(id), edit)?;
        Ok(Owner::Page(id))
    })
    .await?)
}

/// The owner's files as the API shows them.
async fn listed(state: &AppState, owner: Owner) -> ApiResult {
    let attachments = db::run(&state.pool, move |conn| {
        let issue_key = issue_key_of(conn, owner)?;
        Ok(super::of_owner(conn, owner)?
            .into_iter()
            .map(|(attachment, name)| AttachmentBody::new(attachment, name, issue_key.clone()))
            .collect())
    })
    .await?;
    Ok(HttpResponse::Ok().json(AttachmentList { attachments }))
}

fn issue_key_of(conn: &mut diesel::PgConnection, owner: Owner) -> Result<Option<String>, crate::errors::AppError> {
    Ok(match owner {
        Owner::Issue(id) => {
            let (project, issue) = issues::find_by_id(conn, id)?;
            Some(format!("{}-{}", project.key, issue.number))
        }
        Owner::Page(_) => None,
    })
}

async fn uploaded(state: &AppState, caller: &ApiCaller, owner: Owner, form: Multipart) -> ApiResult {
    let recorded = receive_and_record(state, &caller.actor, owner, form, None).await?;
    let name = caller.user.display_name.clone();
    let issue_key = db::run(&state.pool, move |conn| issue_key_of(conn, owner)).await?;
    let attachments = recorded
        .into_iter()
        .map(|attachment| AttachmentBody::new(attachment, name.clone(), issue_key.clone()))
        .collect();
    Ok(HttpResponse::Created().json(AttachmentList { attachments }))
}

/// An issue's files, oldest first.
#[utoipa::path(get, path = "/api/v1/issues/{issue}/attachments", tag = "attachments", params(IssuePath),
    responses((status = 200, body = AttachmentList)))]
pub async fn list_for_issue(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<IssuePath>) -> ApiResult {
    let owner = issue_owner(&state, &caller, path.into_inner().issue, false).await?;
    listed(&state, owner).await
}

/// Attaches files to an issue: all of them, or none when one is refused (too large, empty,
/// a bad name). Answers the new files.
#[utoipa::path(post, path = "/api/v1/issues/{issue}/attachments", tag = "attachments", params(IssuePath),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 201, body = AttachmentList)))]
pub async fn upload_to_issue(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<IssuePath>,
    form: Multipart,
) -> ApiResult {
    let owner = issue_owner(&state, &caller, path.into_inner().issue, true).await?;
    uploaded(&state, &caller, owner, form).await
}

/// A documentation page's files, oldest first.
#[utoipa::path(get, path = "/api/v1/pages/{id}/attachments", tag = "attachments", params(PageIdPath),
    responses((status = 200, body = AttachmentList)))]
pub async fn list_for_page(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<PageIdPath>) -> ApiResult {
    let owner = page_owner(&state, &caller, path.into_inner().id, false).await?;
    listed(&state, owner).await
}

/// Attaches files to a documentation page, all or none.
#[utoipa::path(post, path = "/api/v1/pages/{id}/attachments", tag = "attachments", params(PageIdPath),
    request_body(content = UploadForm, content_type = "multipart/form-data"),
    responses((status = 201, body = AttachmentList)))]
pub async fn upload_to_page(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<PageIdPath>,
    form: Multipart,
) -> ApiResult {
    let owner = page_owner(&state, &caller, path.into_inner().id, true).await?;
    uploaded(&state, &caller, owner, form).await
}

async fn allowed(state: &AppState, caller: &ApiCaller, id: i64, edit: bool) -> Result<Attachment, ApiError> {
    let user = caller.user.clone();
    Ok(db::run(&state.pool, move |conn| find_allowed(conn, &user, id, edit)).await?.0)
}

/// One file's record.
#[utoipa::path(get, path = "/api/v1/attachments/{id}", tag = "attachments", params(AttachmentPath),
    responses((status = 200, body = AttachmentBody)))]
pub async fn get(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<AttachmentPath>) -> ApiResult {
    let attachment = allowed(&state, &caller, path.into_inner().id, false).await?;
    let body = db::run(&state.pool, move |conn| {
        let name = crate::identity::users::display_name(conn, attachment.uploaded_by)?;
        let issue_key = issue_key_of(conn, attachment.owner())?;
        Ok(AttachmentBody::new(attachment, name, issue_key))
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// The file's bytes, streamed, with `Content-Disposition` and the SHA-256 as `ETag`. Only raster
/// pictures are sent as their type; everything else as `application/octet-stream`.
#[utoipa::path(get, path = "/api/v1/attachments/{id}/content", tag = "attachments", params(AttachmentPath),
    responses((status = 200, description = "The bytes",
        content((Vec<u8> = "application/octet-stream"), (Vec<u8> = "image/png"), (Vec<u8> = "image/jpeg"),
            (Vec<u8> = "image/gif"), (Vec<u8> = "image/webp")),
        headers(("Content-Disposition" = String, description = "attachment (or inline for pictures) with the file name")))))]
pub async fn content(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<AttachmentPath>) -> ApiResult {
    let attachment = allowed(&state, &caller, path.into_inner().id, false).await?;
    Ok(send(&state, &attachment).await?)
}

/// Removes the file: its record at once, its bytes by a background job.
#[utoipa::path(delete, path = "/api/v1/attachments/{id}", tag = "attachments", params(AttachmentPath),
    responses((status = 204, description = "Removed")))]
pub async fn delete(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<AttachmentPath>) -> ApiResult {
    let attachment = allowed(&state, &caller, path.into_inner().id, true).await?;
    let actor = caller.actor.clone();
    db::run(&state.pool, move |conn| super::delete(conn, &actor, &attachment)).await?;
    Ok(HttpResponse::NoContent().insert_header((header::CACHE_CONTROL, "no-store")).finish())
}
