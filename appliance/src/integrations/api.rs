//! Webhooks over the REST API, for a project (`/api/v1/projects/{key}/webhooks…`, its
//! managers) or global (`/api/v1/webhooks…`, administrators), as on the pages.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::pages::{path_id, Scope};
use super::webhooks::{self, NewWebhook};
use crate::db;
use crate::web::errors::ApiError;
use crate::web::extract::{ApiCaller, ApiJson};
use crate::web::AppState;

type ApiResult = Result<HttpResponse, ApiError>;

pub async fn list(req: HttpRequest, caller: ApiCaller, state: web::Data<AppState>) -> ApiResult {
    let project_id = Scope::of(&req, &state, &caller.user).await?.project_id();
    let hooks = db::run(&state.pool, move |conn| Ok(webhooks::list(conn, project_id)?)).await?;
    Ok(HttpResponse::Ok().json(json!({ "webhooks": hooks })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    name: String,
    url: String,
    events: Vec<String>,
}

/// Answers with the hook and its signing secret.
pub async fn create(
    req: HttpRequest,
    caller: ApiCaller,
    state: web::Data<AppState>,
    body: ApiJson<CreateBody>,
) -> ApiResult {
    let project_id = Scope::of(&req, &state, &caller.user).await?.project_id();
    let ApiJson(CreateBody { name, url, events }) = body;
    let actor = caller.actor.clone();
    let hook =
        db::run(&state.pool, move |conn| webhooks::create(conn, &actor, project_id, NewWebhook { name, url, events }))
            .await?;
    let secret = hook.secret.clone();
    Ok(HttpResponse::Created().json(json!({ "webhook": hook, "secret": secret })))
}

/// `POST …/webhooks/{id}/enable|disable`, `DELETE …/webhooks/{id}`.
pub async fn change(req: HttpRequest, caller: ApiCaller, state: web::Data<AppState>) -> ApiResult {
    let project_id = Scope::of(&req, &state, &caller.user).await?.project_id();
    let id = path_id(&req, "id")?;
    let action = req.match_info().get("action").unwrap_or("delete").to_owned();
    let actor = caller.actor.clone();
    db::run(&state.pool, move |conn| webhooks::change(conn, &actor, project_id, id, &action)).await?;
    Ok(HttpResponse::NoContent().finish())
}

pub async fn deliveries(req: HttpRequest, caller: ApiCaller, state: web::Data<AppState>) -> ApiResult {
    let project_id = Scope::of(&req, &state, &caller.user).await?.project_id();
    let id = path_id(&req, "id")?;
    let list = db::run(&state.pool, move |conn| {
        webhooks::find(conn, project_id, id)?;
        Ok(webhooks::deliveries(conn, id, 100)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "deliveries": list })))
}

pub async fn redeliver(req: HttpRequest, caller: ApiCaller, state: web::Data<AppState>) -> ApiResult {
    let project_id = Scope::of(&req, &state, &caller.user).await?.project_id();
    let (id, delivery) = (path_id(&req, "id")?, path_id(&req, "delivery")?);
    let actor = caller.actor.clone();
    db::run(&state.pool, move |conn| {
        let hook = webhooks::find(conn, project_id, id)?;
        webhooks::redeliver(conn, &actor, &hook, delivery)
    })
    .await?;
    Ok(HttpResponse::Accepted().json(json!({ "queued": delivery })))
}
