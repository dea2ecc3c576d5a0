//! REST API v1 for what a person does to an issue besides editing its fields: links, the
//! work log, watching and deleting. Each calls the same domain function as the issue page.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::issues;
use super::time_tracking::{self, parse_duration, WorkLog};
use super::{links, watchers};
use crate::db;
use crate::identity::permissions::Action;
use crate::identity::users::UserRef;
use crate::web::errors::ApiError;
use crate::web::extract::{ApiCaller, ApiJson};
use crate::web::openapi::{IssueItemPath, IssuePath};
use crate::web::AppState;

type ApiResult = Result<HttpResponse, ApiError>;

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkInput {
    /// blocks, is_blocked_by, relates, duplicates or is_duplicated_by.
    kind: String,
    /// The other issue's key.
    issue: String,
}

#[derive(Serialize, ToSchema)]
pub struct LinkList {
    links: Vec<links::LinkView>,
}

/// Links the issue to another; answers with all of the issue's links.
#[utoipa::path(post, path = "/api/v1/issues/{issue}/links", tag = "issues", params(IssuePath),
    request_body = LinkInput, responses((status = 201, body = LinkList)))]
pub async fn create_link(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: ApiJson<LinkInput>,
) -> ApiResult {
    let ApiJson(input) = body;
    let (key, user, actor) = (path.into_inner(), caller.user.clone(), caller.actor.clone());
    let links = db::run(&state.pool, move |conn| {
        let (project, issue) = issues::find_editable(conn, &user, &key)?;
        links::link(
            conn,
            &actor,
            &user,
            &issue,
            &format!("{}-{}", project.key, issue.number),
            &input.kind,
            &input.issue,
        )?;
        Ok(links::links_of(conn, &user, issue.id)?)
    })
    .await?;
    Ok(HttpResponse::Created().json(LinkList { links }))
}

/// Removes one of the issue's links (both directions).
#[utoipa::path(delete, path = "/api/v1/issues/{issue}/links/{id}", tag = "issues", params(IssueItemPath),
    responses((status = 204, description = "Removed")))]
pub async fn delete_link(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<(String, i64)>) -> ApiResult {
    let ((key, id), user, actor) = (path.into_inner(), caller.user.clone(), caller.actor.clone());
    db::run(&state.pool, move |conn| {
        let (_, issue) = issues::find_editable(conn, &user, &key)?;
        links::unlink(conn, &actor, &user, &issue, id)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Deletes the issue for good, with its comments, history, links and files (project admins,
/// by the default scheme). An issue with sub-issues is refused with 409.
#[utoipa::path(delete, path = "/api/v1/issues/{issue}", tag = "issues", params(IssuePath),
    responses((status = 204, description = "Deleted"),
        (status = 409, description = "The issue has sub-issues", body = crate::web::errors::ErrorBody)))]
pub async fn delete_issue(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<IssuePath>) -> ApiResult {
    let (key, user, actor) = (path.into_inner().issue, caller.user.clone(), caller.actor.clone());
    db::run(&state.pool, move |conn| {
        let (project, issue) = issues::find_by_key(conn, &key)?;
        issues::authorize_on(&user, &project, &issue, |p, _| Action::DeleteIssue(p))?;
        issues::delete(conn, &actor, &project, issue.id)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkInput {
    /// A duration like `1h 30m`.
    #[schema(example = "1h 30m")]
    time_spent: String,
    #[serde(default)]
    note: String,
}

/// Logs time the caller spent on the issue.
#[utoipa::path(post, path = "/api/v1/issues/{issue}/work-log", tag = "issues", params(IssuePath),
    request_body = WorkInput, responses((status = 201, body = WorkLog)))]
pub async fn log_work(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: ApiJson<WorkInput>,
) -> ApiResult {
    let ApiJson(input) = body;
    let minutes = parse_duration("time_spent", &input.time_spent)?;
    let (key, user, actor) = (path.into_inner(), caller.user.clone(), caller.actor.clone());
    let log = db::run(&state.pool, move |conn| {
        let (_, issue) = issues::find_editable(conn, &user, &key)?;
        time_tracking::log_work(conn, &actor, &issue, user.id, minutes, &input.note)
    })
    .await?;
    Ok(HttpResponse::Created().json(log))
}

#[derive(Serialize, ToSchema)]
pub struct WatcherList {
    watchers: Vec<UserRef>,
}

/// Starts watching the issue: the caller hears of its changes.
#[utoipa::path(put, path = "/api/v1/issues/{issue}/watchers/me", tag = "issues", params(IssuePath),
    responses((status = 200, body = WatcherList)))]
pub async fn watch(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<String>) -> ApiResult {
    set_watching(caller, state, path.into_inner(), true).await
}

/// Stops watching the issue.
#[utoipa::path(delete, path = "/api/v1/issues/{issue}/watchers/me", tag = "issues", params(IssuePath),
    responses((status = 200, body = WatcherList)))]
pub async fn unwatch(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<String>) -> ApiResult {
    set_watching(caller, state, path.into_inner(), false).await
}

async fn set_watching(caller: ApiCaller, state: web::Data<AppState>, key: String, watching: bool) -> ApiResult {
    let (user, actor) = (caller.user.clone(), caller.actor.clone());
    let watchers = db::run(&state.pool, move |conn| {
        let (project, issue) = issues::find_by_key(conn, &key)?;
        issues::authorize_on(&user, &project, &issue, |p, _| Action::ViewProject(p))?;
        watchers::set_watching(conn, &actor, &issue, user.id, watching)?;
        Ok(watchers::watchers_of(conn, issue.id)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(WatcherList { watchers }))
}
