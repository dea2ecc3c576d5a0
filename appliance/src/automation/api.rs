//! Automation rules over the REST API (`/api/v1/projects/{key}/automation-rules…`): the same
//! rules, checks and permissions as the pages. Reading needs sight of the project; changing
//! needs its management. A rule's JSON body is `rules::Draft`: name, trigger, trigger_value,
//! condition and actions (`{"type": "transition", "status": "Done"}`, …).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use diesel::Connection;
use serde::Serialize;

use super::rules::{self, Draft, LoggedRun, Rule};
use crate::db;
use crate::identity::permissions::Action as Permission;
use crate::web::errors::{ApiError, ErrorBody};
use crate::web::etag::{self, IfMatch};
use crate::web::extract::{ApiCaller, ApiJson};
use crate::web::openapi::{IfMatchHeader, ProjectItemPath, ProjectPath, SwitchPath};
use crate::web::AppState;
use crate::work::projects;

type ApiResult = Result<HttpResponse, ApiError>;

#[derive(Serialize, utoipa::ToSchema)]
pub struct RuleList {
    rules: Vec<Rule>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RuleBody {
    rule: Rule,
    /// An incoming-webhook rule's URL secret (`POST /hooks/automation/{hook_token}`), in the
    /// answer that made it only.
    #[serde(skip_serializing_if = "Option::is_none")]
    hook_token: Option<String>,
}

/// A project's rules, oldest first.
#[utoipa::path(get, path = "/api/v1/projects/{key}/automation-rules", tag = "automation", params(ProjectPath),
    responses((status = 200, body = RuleList)))]
pub async fn list(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<ProjectPath>) -> ApiResult {
    let (key, user) = (path.into_inner().key, caller.user.clone());
    let rules = db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Permission::ViewProject(p))?;
        rules::list(conn, &project)
    })
    .await?;
    Ok(HttpResponse::Ok().json(RuleList { rules }))
}

/// Saves a new rule owned by the caller (the project's managers only). An incoming-webhook
/// rule's answer carries its URL secret, this once.
#[utoipa::path(post, path = "/api/v1/projects/{key}/automation-rules", tag = "automation", params(ProjectPath),
    request_body = Draft, responses((status = 201, body = RuleBody)))]
pub async fn create(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<ProjectPath>,
    body: ApiJson<Draft>,
) -> ApiResult {
    let (key, user, actor, draft) = (path.into_inner().key, caller.user.clone(), caller.actor.clone(), body.0);
    let (rule, hook_token) = db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Permission::ManageProject(p))?;
        rules::create(conn, &actor, &project, &draft)
    })
    .await?;
    Ok(HttpResponse::Created().json(RuleBody { rule, hook_token }))
}

/// One rule. Its `ETag` goes in `If-Match` when replacing it.
#[utoipa::path(get, path = "/api/v1/projects/{key}/automation-rules/{id}", tag = "automation",
    params(ProjectItemPath),
    responses((status = 200, body = RuleBody, headers(("ETag" = String, description = "The rule's tag"))),
        (status = 304, description = "Unchanged since the `If-None-Match` tag")))]
pub async fn get(
    req: HttpRequest,
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<ProjectItemPath>,
) -> ApiResult {
    let (ProjectItemPath { key, id }, user) = (path.into_inner(), caller.user.clone());
    let rule = db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Permission::ViewProject(p))?;
        rules::find(conn, &project, id)
    })
    .await?;
    Ok(etag::answer(&req, &RuleBody { rule, hook_token: None }))
}

/// Replaces a rule's definition; the caller becomes its owner. With `If-Match`, only if the
/// rule is still as read.
#[utoipa::path(put, path = "/api/v1/projects/{key}/automation-rules/{id}", tag = "automation",
    params(ProjectItemPath, IfMatchHeader), request_body = Draft,
    responses((status = 200, body = RuleBody, headers(("ETag" = String, description = "The rule's new tag"))),
        (status = 412, description = "The rule changed since it was read", body = ErrorBody)))]
pub async fn update(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<ProjectItemPath>,
    if_match: IfMatch,
    body: ApiJson<Draft>,
) -> ApiResult {
    let (ProjectItemPath { key, id }, user, actor, draft) =
        (path.into_inner(), caller.user.clone(), caller.actor.clone(), body.0);
    let (rule, hook_token) = db::run(&state.pool, move |conn| {
        conn.transaction(|conn| {
            let project = projects::find_allowed(conn, &user, &key, |p| Permission::ManageProject(p))?;
            let before = if_match.before(|| {
                let rule_id = rules::find(conn, &project, id)?.id;
                rules::lock(conn, rule_id)?;
                Ok(RuleBody { rule: rules::find(conn, &project, id)?, hook_token: None })
            })?;
            let updated = rules::update(conn, &actor, &project, id, &draft)?;
            if_match.check(before)?;
            Ok(updated)
        })
    })
    .await?;
    // The tag is the rule as a GET shows it: without the one-time hook secret.
    let tag = etag::tag_of(&RuleBody { rule: rule.clone(), hook_token: None });
    Ok(HttpResponse::Ok().insert_header((header::ETAG, tag)).json(RuleBody { rule, hook_token }))
}

/// Turns a rule on or off.
#[utoipa::path(post, path = "/api/v1/projects/{key}/automation-rules/{id}/{action}", tag = "automation",
    params(SwitchPath), responses((status = 204, description = "Done")))]
pub async fn switch(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<SwitchPath>) -> ApiResult {
    let (SwitchPath { key, id, action }, user, actor) = (path.into_inner(), caller.user.clone(), caller.actor.clone());
    db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Permission::ManageProject(p))?;
        rules::set_enabled(conn, &actor, &project, id, action == "enable")
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Deletes a rule and its log (the audit log keeps what it was).
#[utoipa::path(delete, path = "/api/v1/projects/{key}/automation-rules/{id}", tag = "automation",
    params(ProjectItemPath), responses((status = 204, description = "Deleted")))]
pub async fn delete(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<ProjectItemPath>) -> ApiResult {
    let (ProjectItemPath { key, id }, user, actor) = (path.into_inner(), caller.user.clone(), caller.actor.clone());
    db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Permission::ManageProject(p))?;
        rules::delete(conn, &actor, &project, id)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct RunList {
    runs: Vec<LoggedRun>,
}

/// A rule's execution log: the newest 100 runs, newest first.
#[utoipa::path(get, path = "/api/v1/projects/{key}/automation-rules/{id}/runs", tag = "automation",
    params(ProjectItemPath), responses((status = 200, body = RunList)))]
pub async fn runs(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<ProjectItemPath>) -> ApiResult {
    let (ProjectItemPath { key, id }, user) = (path.into_inner(), caller.user.clone());
    let runs = db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Permission::ViewProject(p))?;
        let rule = rules::find(conn, &project, id)?;
        Ok(rules::runs(conn, rule.id, 100)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(RunList { runs }))
}
