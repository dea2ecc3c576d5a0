//! Webhooks over the REST API, for a project (`/api/v1/projects/{key}/webhooks…`, its
//! managers) or global (`/api/v1/webhooks…`, administrators), as on the pages. The handlers
//! serve both scopes; the document states the project scope, and `web::openapi` mirrors
//! each operation to its global path.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::pages::{path_id, Scope};
use super::webhooks::{self, Delivery, NewWebhook, Webhook};
use crate::db;
use crate::web::errors::ApiError;
use crate::web::extract::{ApiCaller, ApiJson};
use crate::web::openapi::{ProjectItemPath, ProjectPath, SwitchPath};
use crate::web::AppState;

type ApiResult = Result<HttpResponse, ApiError>;

#[derive(Serialize, ToSchema)]
pub struct WebhookList {
    webhooks: Vec<Webhook>,
}

/// The project's outgoing webhooks.
#[utoipa::path(get, path = "/api/v1/projects/{key}/webhooks", tag = "webhooks", params(ProjectPath),
    responses((status = 200, body = WebhookList)))]
pub async fn list(req: HttpRequest, caller: ApiCaller, state: web::Data<AppState>) -> ApiResult {
    let project_id = Scope::of(&req, &state, &caller.user).await?.project_id();
    let webhooks = db::run(&state.pool, move |conn| Ok(webhooks::list(conn, project_id)?)).await?;
    Ok(HttpResponse::Ok().json(WebhookList { webhooks }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBody {
    #[schema(min_length = 1, max_length = 80)]
    name: String,
    /// An http(s) URL without credentials, in a network the administrator allows.
    #[schema(example = "https://ci.example.com/outpost")]
    url: String,
    /// Event names (`issue.created`, `comment.created`, …) or `*` for all.
    events: Vec<String>,
}

#[derive(Serialize, ToSchema)]
pub struct CreatedWebhook {
    webhook: Webhook,
    /// The key that signs each delivery (`X-Outpost-Signature`); shown in this answer only.
    secret: String,
}

/// Adds a webhook; the answer carries its signing secret, this once.
#[utoipa::path(post, path = "/api/v1/projects/{key}/webhooks", tag = "webhooks", params(ProjectPath),
    request_body = CreateBody, responses((status = 201, body = CreatedWebhook)))]
pub async fn create(
    req: HttpRequest,
    caller: ApiCaller,
    state: web::Data<AppState>,
    body: ApiJson<CreateBody>,
) -> ApiResult {
    let project_id = Scope::of(&req, &state, &caller.user).await?.project_id();
    let ApiJson(CreateBody { name, url, events }) = body;
    let (actor, keys) = (caller.actor.clone(), state.keys.clone());
    let webhook = db::run(&state.pool, move |conn| {
        webhooks::create(conn, &keys, &actor, project_id, NewWebhook { name, url, events })
    })
    .await?;
    let secret = webhook.secret.clone();
    Ok(HttpResponse::Created().json(CreatedWebhook { webhook, secret }))
}

/// Turns a webhook on or off.
#[utoipa::path(post, path = "/api/v1/projects/{key}/webhooks/{id}/{action}", tag = "webhooks", params(SwitchPath),
    responses((status = 204, description = "Done")))]
pub async fn switch(req: HttpRequest, caller: ApiCaller, state: web::Data<AppState>) -> ApiResult {
    let action = req.match_info().get("action").unwrap_or_default().to_owned();
    change(req, caller, state, action).await
}

/// Deletes a webhook with its delivery log.
#[utoipa::path(delete, path = "/api/v1/projects/{key}/webhooks/{id}", tag = "webhooks", params(ProjectItemPath),
    responses((status = 204, description = "Deleted")))]
pub async fn delete(req: HttpRequest, caller: ApiCaller, state: web::Data<AppState>) -> ApiResult {
    change(req, caller, state, "delete".to_owned()).await
}

async fn change(req: HttpRequest, caller: ApiCaller, state: web::Data<AppState>, action: String) -> ApiResult {
    let project_id = Scope::of(&req, &state, &caller.user).await?.project_id();
    let id = path_id(&req, "id")?;
    let actor = caller.actor.clone();
    db::run(&state.pool, move |conn| webhooks::change(conn, &actor, project_id, id, &action)).await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Serialize, ToSchema)]
pub struct DeliveryList {
    deliveries: Vec<Delivery>,
}

/// A webhook's newest 100 deliveries, newest first.
#[utoipa::path(get, path = "/api/v1/projects/{key}/webhooks/{id}/deliveries", tag = "webhooks",
    params(ProjectItemPath), responses((status = 200, body = DeliveryList)))]
pub async fn deliveries(req: HttpRequest, caller: ApiCaller, state: web::Data<AppState>) -> ApiResult {
    let project_id = Scope::of(&req, &state, &caller.user).await?.project_id();
    let id = path_id(&req, "id")?;
    let deliveries = db::run(&state.pool, move |conn| {
        webhooks::find(conn, project_id, id)?;
        Ok(webhooks::deliveries(conn, id, 100)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(DeliveryList { deliveries }))
}

/// `POST …/webhooks/{id}/deliveries/{delivery}/redeliver`: which delivery, for the document
/// (the handler serves the global scope too, so it reads the path through `Scope::of`).
#[derive(IntoParams)]
#[into_params(parameter_in = Path)]
pub struct DeliveryPath {
    /// The project's key.
    #[param(example = "OPS")]
    pub key: String,
    /// The webhook's id.
    #[param(example = 1)]
    pub id: i64,
    /// The delivery's id.
    #[param(example = 1)]
    pub delivery: i64,
}

#[derive(Serialize, ToSchema)]
pub struct Queued {
    /// The delivery that will be sent again.
    queued: i64,
}

/// Sends a delivery again (same event, same payload, a fresh signature).
#[utoipa::path(post, path = "/api/v1/projects/{key}/webhooks/{id}/deliveries/{delivery}/redeliver",
    tag = "webhooks", params(DeliveryPath), responses((status = 202, body = Queued)))]
pub async fn redeliver(req: HttpRequest, caller: ApiCaller, state: web::Data<AppState>) -> ApiResult {
    let project_id = Scope::of(&req, &state, &caller.user).await?.project_id();
    let (id, delivery) = (path_id(&req, "id")?, path_id(&req, "delivery")?);
    let actor = caller.actor.clone();
    db::run(&state.pool, move |conn| {
        let hook = webhooks::find(conn, project_id, id)?;
        webhooks::redeliver(conn, &actor, &hook, delivery)
    })
    .await?;
    Ok(HttpResponse::Accepted().json(Queued { queued: delivery }))
}
