//! Documentation over the REST API: spaces, a space's page outline, pages (read, write with
//! the version edited, move, delete) and their versions (list, read, restore). The rules are
//! the pages' own: a save names the version it edited and is refused with 409 when someone
//! saved since, never overwriting.

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::pages::{self, Draft, Page, Saved};
use super::spaces::{self, NewSpace, Space};
use super::{tree, versions};
use crate::db;
use crate::identity::permissions::Action;
use crate::web::errors::ApiError;
use crate::web::etag;
use crate::web::extract::{ApiCaller, ApiJson};
use crate::web::AppState;

type ApiResult = Result<HttpResponse, ApiError>;

#[derive(Serialize, ToSchema)]
pub struct SpaceBody {
    key: String,
    name: String,
    description: String,
    /// The project's key when this is a project's space; null for a standalone space.
    project: Option<String>,
    pages: i64,
    created_at: DateTime<Utc>,
}

impl SpaceBody {
    fn new(space: Space, pages: i64) -> Self {
        SpaceBody {
            project: space.project_id.map(|_| space.key.clone()),
            key: space.key,
            name: space.name,
            description: space.description,
            pages,
            created_at: space.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct SpaceList {
    spaces: Vec<SpaceBody>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct SpacePath {
    /// The space's key.
    #[param(example = "OPS")]
    pub key: String,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct PageIdPath {
    /// The page's id.
    #[param(example = 1)]
    pub id: i64,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Path)]
pub struct VersionPath {
    /// The page's id.
    #[param(example = 1)]
    pub id: i64,
    /// The version's number (1 is the first).
    #[param(example = 1, minimum = 1)]
    pub version: i32,
}

/// The spaces the caller may read.
#[utoipa::path(get, path = "/api/v1/spaces", tag = "docs", responses((status = 200, body = SpaceList)))]
pub async fn list_spaces(caller: ApiCaller, state: web::Data<AppState>) -> ApiResult {
    let user = caller.user.clone();
    let spaces = db::run(&state.pool, move |conn| Ok(spaces::list_visible(conn, &user)?)).await?;
    let spaces = spaces.into_iter().map(|(space, pages)| SpaceBody::new(space, pages)).collect();
    Ok(HttpResponse::Ok().json(SpaceList { spaces }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpaceInput {
    #[schema(pattern = "^[A-Z][A-Z0-9]{1,9}$", example = "HANDBOOK")]
    key: String,
    #[schema(min_length = 1, max_length = 80)]
    name: String,
    #[serde(default)]
    #[schema(max_length = 2000)]
    description: String,
}

/// Creates a standalone space (administrators only; a project's space comes with it).
#[utoipa::path(post, path = "/api/v1/spaces", tag = "docs", request_body = SpaceInput,
    responses((status = 201, body = SpaceBody)))]
pub async fn create_space(caller: ApiCaller, state: web::Data<AppState>, body: ApiJson<SpaceInput>) -> ApiResult {
    let ApiJson(input) = body;
    let (actor, user) = (caller.actor.clone(), caller.user.clone());
    let new = NewSpace { key: input.key, name: input.name, description: input.description };
    let space = db::run(&state.pool, move |conn| spaces::create(conn, &actor, &user, new)).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/spaces/{}/pages", space.key)))
        .json(SpaceBody::new(space, 0)))
}

/// A page in a space's outline.
#[derive(Serialize, ToSchema)]
pub struct OutlineEntry {
    id: i64,
    parent_id: Option<i64>,
    /// Place among the pages with the same parent, 1 first.
    position: i32,
    /// 0 for the top level.
    depth: usize,
    title: String,
}

#[derive(Serialize, ToSchema)]
pub struct PageOutline {
    pages: Vec<OutlineEntry>,
}

/// A space's pages in outline order: each parent before its children, siblings in order.
#[utoipa::path(get, path = "/api/v1/spaces/{key}/pages", tag = "docs", params(SpacePath),
    responses((status = 200, body = PageOutline)))]
pub async fn outline(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<SpacePath>) -> ApiResult {
    let (user, key) = (caller.user.clone(), path.into_inner().key);
    let outline = db::run(&state.pool, move |conn| {
        let space = spaces::find_allowed(conn, &user, &key, |space| Action::ViewSpace(space))?;
        Ok(tree::outline(conn, space.id)?)
    })
    .await?;
    let pages = outline
        .entries
        .into_iter()
        .map(|(node, depth)| OutlineEntry {
            id: node.id,
            parent_id: node.parent_id,
            position: node.position + 1,
            depth,
            title: node.title,
        })
        .collect();
    Ok(HttpResponse::Ok().json(PageOutline { pages }))
}

/// A page as the API shows it.
#[derive(Serialize, ToSchema)]
pub struct PageBody {
    id: i64,
    space: String,
    parent_id: Option<i64>,
    /// Place among the pages with the same parent, 1 first.
    position: i32,
    title: String,
    /// The Markdown source.
    body: String,
    /// The latest version's number: send it back as `version` when saving.
    version: i32,
    created_at: DateTime<Utc>,
    updated_at: DateTime<Utc>,
}

impl PageBody {
    fn new(space: &Space, page: Page) -> Self {
        PageBody {
            id: page.id,
            space: space.key.clone(),
            parent_id: page.parent_id,
            position: page.position + 1,
            title: page.title,
            body: page.body,
            version: page.version,
            created_at: page.created_at,
            updated_at: page.updated_at,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPageInput {
    #[schema(min_length = 1, max_length = 200)]
    title: String,
    #[serde(default)]
    #[schema(max_length = 200000)]
    body: String,
    /// The page to write under; absent or null for the space's top level.
    #[serde(default)]
    parent_id: Option<i64>,
}

/// Writes a new page, last among its parent's children. It is version 1.
#[utoipa::path(post, path = "/api/v1/spaces/{key}/pages", tag = "docs", params(SpacePath),
    request_body = NewPageInput, responses((status = 201, body = PageBody)))]
pub async fn create_page(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<SpacePath>,
    body: ApiJson<NewPageInput>,
) -> ApiResult {
    let ApiJson(input) = body;
    let (user, actor, key) = (caller.user.clone(), caller.actor.clone(), path.into_inner().key);
    let body = db::run(&state.pool, move |conn| {
        let space = spaces::find_allowed(conn, &user, &key, |space| Action::EditPages(space))?;
        let draft = Draft::new(&input.title, &input.body)?;
        let page = pages::create(conn, &actor, &space, input.parent_id, draft)?;
        Ok(PageBody::new(&space, page))
    })
    .await?;
    Ok(HttpResponse::Created().insert_header((header::LOCATION, format!("/api/v1/pages/{}", body.id))).json(body))
}

/// One page with its Markdown source and version.
#[utoipa::path(get, path = "/api/v1/pages/{id}", tag = "docs", params(PageIdPath),
    responses((status = 200, body = PageBody, headers(("ETag" = String, description = "The page's tag"))),
        (status = 304, description = "Unchanged since the `If-None-Match` tag")))]
pub async fn get_page(
    req: HttpRequest,
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<PageIdPath>,
) -> ApiResult {
    let (user, id) = (caller.user.clone(), path.into_inner().id);
    let body = db::run(&state.pool, move |conn| {
        let (space, page) = pages::find_allowed(conn, &user, id, |space| Action::ViewSpace(space))?;
        Ok(PageBody::new(&space, page))
    })
    .await?;
    Ok(etag::answer(&req, &body))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PageUpdate {
    #[schema(min_length = 1, max_length = 200)]
    title: String,
    #[schema(max_length = 200000)]
    body: String,
    /// The version this text was edited from. When the page has moved on since, the save is
    /// refused with 409 and nothing changes.
    #[schema(minimum = 1)]
    version: i32,
}

/// Saves a new version of the page (nothing happens when title and text are unchanged).
#[utoipa::path(put, path = "/api/v1/pages/{id}", tag = "docs", params(PageIdPath), request_body = PageUpdate,
    responses((status = 200, body = PageBody)))]
pub async fn update_page(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<PageIdPath>,
    body: ApiJson<PageUpdate>,
) -> ApiResult {
    let ApiJson(input) = body;
    let (user, actor, id) = (caller.user.clone(), caller.actor.clone(), path.into_inner().id);
    let body = db::run(&state.pool, move |conn| {
        let (space, _) = pages::find_allowed(conn, &user, id, |space| Action::EditPages(space))?;
        let draft = Draft::new(&input.title, &input.body)?;
        let (Saved::Changed(page) | Saved::Unchanged(page)) = pages::save(conn, &actor, id, input.version, draft, "")?;
        Ok(PageBody::new(&space, page))
    })
    .await?;
    Ok(HttpResponse::Ok().insert_header((header::ETAG, etag::tag_of(&body))).json(body))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PageMoveInput {
    /// The new parent; null for the space's top level. It must be in the same space and not
    /// the page itself or one of its descendants.
    parent_id: Option<i64>,
    /// 1 is first among the new siblings; past the end (or absent) means last.
    #[serde(default)]
    #[schema(minimum = 1)]
    position: Option<i32>,
}

/// Moves the page under another parent and/or to another place among its siblings.
#[utoipa::path(post, path = "/api/v1/pages/{id}/move", tag = "docs", params(PageIdPath), request_body = PageMoveInput,
    responses((status = 200, body = PageBody)))]
pub async fn move_page(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<PageIdPath>,
    body: ApiJson<PageMoveInput>,
) -> ApiResult {
    let ApiJson(input) = body;
    let (user, actor, id) = (caller.user.clone(), caller.actor.clone(), path.into_inner().id);
    let body = db::run(&state.pool, move |conn| {
        let (space, _) = pages::find_allowed(conn, &user, id, |space| Action::EditPages(space))?;
        let position = input.position.map_or(i32::MAX, |p| p.saturating_sub(1));
        let page = tree::move_page(conn, &actor, id, input.parent_id, position)?;
        Ok(PageBody::new(&space, page))
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// Deletes a page without child pages, with its versions and files.
#[utoipa::path(delete, path = "/api/v1/pages/{id}", tag = "docs", params(PageIdPath),
    responses((status = 204, description = "Deleted")))]
pub async fn delete_page(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<PageIdPath>) -> ApiResult {
    let (user, actor, id) = (caller.user.clone(), caller.actor.clone(), path.into_inner().id);
    db::run(&state.pool, move |conn| {
        pages::find_allowed(conn, &user, id, |space| Action::EditPages(space))?;
        pages::delete(conn, &actor, id)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize, ToSchema)]
pub struct VersionBody {
    version: i32,
    title: String,
    body: String,
    author: String,
    /// Why this version exists when it is not a plain edit ("Restored version 3").
    note: String,
    created_at: DateTime<Utc>,
}

impl VersionBody {
    fn new(version: versions::PageVersion, author: String) -> Self {
        VersionBody {
            version: version.version,
            title: version.title,
            body: version.body,
            author,
            note: version.note,
            created_at: version.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct VersionList {
    versions: Vec<VersionBody>,
}

/// Every kept version of a page, newest first.
#[utoipa::path(get, path = "/api/v1/pages/{id}/versions", tag = "docs", params(PageIdPath),
    responses((status = 200, body = VersionList)))]
pub async fn list_versions(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<PageIdPath>) -> ApiResult {
    let (user, id) = (caller.user.clone(), path.into_inner().id);
    let versions = db::run(&state.pool, move |conn| {
        pages::find_allowed(conn, &user, id, |space| Action::ViewSpace(space))?;
        Ok(versions::list(conn, id)?)
    })
    .await?;
    let versions = versions.into_iter().map(|(version, author)| VersionBody::new(version, author)).collect();
    Ok(HttpResponse::Ok().json(VersionList { versions }))
}

/// One version of a page.
#[utoipa::path(get, path = "/api/v1/pages/{id}/versions/{version}", tag = "docs", params(VersionPath),
    responses((status = 200, body = VersionBody)))]
pub async fn get_version(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<VersionPath>) -> ApiResult {
    let (user, VersionPath { id, version }) = (caller.user.clone(), path.into_inner());
    let (version, author) = db::run(&state.pool, move |conn| {
        pages::find_allowed(conn, &user, id, |space| Action::ViewSpace(space))?;
        versions::find(conn, id, version)
    })
    .await?;
    Ok(HttpResponse::Ok().json(VersionBody::new(version, author)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RestoreInput {
    /// The page's latest version as the caller knows it; refused with 409 if it moved on.
    #[schema(minimum = 1)]
    version: i32,
}

/// Saves an old version's title and text as the page's newest version.
#[utoipa::path(post, path = "/api/v1/pages/{id}/versions/{version}/restore", tag = "docs", params(VersionPath),
    request_body = RestoreInput, responses((status = 200, body = PageBody)))]
pub async fn restore_version(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<VersionPath>,
    body: ApiJson<RestoreInput>,
) -> ApiResult {
    let ApiJson(input) = body;
    let (user, actor, VersionPath { id, version }) = (caller.user.clone(), caller.actor.clone(), path.into_inner());
    let body = db::run(&state.pool, move |conn| {
        let (space, _) = pages::find_allowed(conn, &user, id, |space| Action::EditPages(space))?;
        let (Saved::Changed(page) | Saved::Unchanged(page)) =
            versions::restore(conn, &actor, id, version, input.version)?;
        Ok(PageBody::new(&space, page))
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}
