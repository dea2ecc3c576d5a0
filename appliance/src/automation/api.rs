//! Automation rules over the REST API (`/api/v1/projects/{key}/automation-rules…`): the same
//! rules, checks and permissions as the pages. Reading needs sight of the project; changing
//! needs its management. A rule's JSON body is `rules::Draft`: name, trigger, trigger_value,
//! condition and actions (`{"type": "transition", "status": "Done"}`, …).

use actix_web::{web, HttpResponse};
use serde_json::json;

use super::rules::{self, Draft};
use crate::db;
use crate::errors::AppError;
use crate::identity::permissions::{authorize, Action as Permission};
use crate::identity::users::User;
use crate::web::errors::ApiError;
use crate::web::extract::{ApiCaller, ApiJson};
use crate::web::AppState;
use crate::work::projects::{self, Project};

type ApiResult = Result<HttpResponse, ApiError>;

fn project_for(conn: &mut diesel::PgConnection, user: &User, key: &str, manage: bool) -> Result<Project, AppError> {
    let project = projects::find_by_key(conn, key)?;
    authorize(user, Permission::ViewProject(&project))?;
    if manage {
        authorize(user, Permission::ManageProject(&project))?;
    }
    Ok(project)
}

/// `GET /api/v1/projects/{key}/automation-rules`
pub async fn list(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<String>) -> ApiResult {
    let (key, user) = (path.into_inner(), caller.user.clone());
    let rules = db::run(&state.pool, move |conn| {
        let project = project_for(conn, &user, &key, false)?;
        rules::list(conn, &project)
    })
    .await?;
    let rules: Vec<_> = rules.iter().map(rules::Rule::to_json).collect();
    Ok(HttpResponse::Ok().json(json!({ "rules": rules })))
}

/// `POST /api/v1/projects/{key}/automation-rules`: answers 201 with the rule, and for an
/// incoming-webhook rule its URL's secret token (shown this once).
pub async fn create(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: ApiJson<Draft>,
) -> ApiResult {
    let (key, user, actor, draft) = (path.into_inner(), caller.user.clone(), caller.actor.clone(), body.0);
    let (rule, token) = db::run(&state.pool, move |conn| {
        let project = project_for(conn, &user, &key, true)?;
        rules::create(conn, &actor, &project, &draft)
    })
    .await?;
    Ok(HttpResponse::Created().json(json!({ "rule": rule.to_json(), "hook_token": token })))
}

/// `GET /api/v1/projects/{key}/automation-rules/{id}`
pub async fn get(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<(String, i64)>) -> ApiResult {
    let ((key, id), user) = (path.into_inner(), caller.user.clone());
    let rule = db::run(&state.pool, move |conn| {
        let project = project_for(conn, &user, &key, false)?;
        rules::find(conn, &project, id)
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "rule": rule.to_json() })))
}

/// `PUT /api/v1/projects/{key}/automation-rules/{id}`: replaces the definition; the caller
/// becomes the owner.
pub async fn update(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<(String, i64)>,
    body: ApiJson<Draft>,
) -> ApiResult {
    let ((key, id), user, actor, draft) = (path.into_inner(), caller.user.clone(), caller.actor.clone(), body.0);
    let (rule, token) = db::run(&state.pool, move |conn| {
        let project = project_for(conn, &user, &key, true)?;
        rules::update(conn, &actor, &project, id, &draft)
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "rule": rule.to_json(), "hook_token": token })))
}

/// `POST …/automation-rules/{id}/enable|disable`
pub async fn switch(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<(String, i64, String)>,
) -> ApiResult {
    let ((key, id, verb), user, actor) = (path.into_inner(), caller.user.clone(), caller.actor.clone());
    db::run(&state.pool, move |conn| {
        let project = project_for(conn, &user, &key, true)?;
        rules::set_enabled(conn, &actor, &project, id, verb == "enable")
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `DELETE …/automation-rules/{id}`
pub async fn delete(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<(String, i64)>) -> ApiResult {
    let ((key, id), user, actor) = (path.into_inner(), caller.user.clone(), caller.actor.clone());
    db::run(&state.pool, move |conn| {
        let project = project_for(conn, &user, &key, true)?;
        rules::delete(conn, &actor, &project, id)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// `GET /api/v1/projects/{key}/automation-rules/{id}/runs`: the newest 100 log entries.
pub async fn runs(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<(String, i64)>) -> ApiResult {
    let ((key, id), user) = (path.into_inner(), caller.user.clone());
    let runs = db::run(&state.pool, move |conn| {
        let project = project_for(conn, &user, &key, false)?;
        let rule = rules::find(conn, &project, id)?;
        Ok(rules::runs(conn, rule.id, 100)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "runs": runs })))
}
