//! The incoming deployment webhook, the project's deployments page (with its incoming hooks,
//! managed by the project's lead), and the same list over the API.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::deployments::{self, Deployment, IncomingHook, Report};
use super::releases::{self, Release};
use crate::db;
use crate::errors::AppError;
use crate::identity::permissions::{authorize, Action};
use crate::web::errors::{ApiError, PageError};
use crate::web::extract::{client_ip, ApiCaller, ApiJson, CsrfForm, SignedIn};
use crate::web::openapi::ProjectPath;
use crate::web::pages::{redirect, render_with_status, status_for, Nav};
use crate::web::AppState;
use crate::work::projects::{self, Project};

/// A deployment with the keys of the issues it shipped.
#[derive(Serialize, ToSchema)]
pub struct ShippedDeployment {
    deployment: Deployment,
    /// Keys of this project's issues named in the release notes or commit messages.
    issues: Vec<String>,
}

/// What a CI pipeline calls to report a deployment; a later report of the same environment
/// and version updates its status (201 the first time, 200 after). No API token: the URL's
/// secret (made on the project's Releases tab) is the credential, and it can only report
/// deployments of its project.
#[utoipa::path(post, path = "/hooks/deployments/{token}", tag = "deployments", security(()),
    params(("token" = String, Path, description = "The incoming hook's secret, `oph_…`.")),
    request_body = Report,
    responses((status = 201, body = ShippedDeployment), (status = 200, body = ShippedDeployment)))]
pub async fn receive(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: ApiJson<Report>,
) -> Result<HttpResponse, ApiError> {
    let token = path.into_inner();
    let ip = client_ip(&req);
    let (deployment, issues, created) =
        db::run(&state.pool, move |conn| deployments::report(conn, &token, ip, &body.0)).await?;
    let reply = ShippedDeployment { deployment, issues };
    Ok(if created { HttpResponse::Created().json(reply) } else { HttpResponse::Ok().json(reply) })
}

const SHOWN: i64 = 100;

#[derive(Template)]
#[template(path = "integrations/deployments.html")]
struct DeploymentsPage {
    nav: Nav,
    project: Project,
    /// The newest deployment of each environment, then everything newest first.
    latest: Vec<(Deployment, Vec<String>)>,
    all: Vec<(Deployment, Vec<String>)>,
    releases: Vec<Release>,
    can_manage: bool,
    hooks: Vec<IncomingHook>,
    new_url: Option<String>,
    error: Option<AppError>,
}

async fn deployments_page(
    signed_in: &SignedIn,
    state: &AppState,
    key: String,
    new_url: Option<String>,
    error: Option<AppError>,
) -> Result<HttpResponse, PageError> {
    let user = signed_in.user().clone();
    let (project, all, releases, hooks, can_manage) = db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Action::ViewProject(p))?;
        let can_manage = authorize(&user, Action::ManageProject(&project)).is_ok();
        let all = deployments::recent(conn, &project, SHOWN)?;
        let releases = releases::of_project(conn, &project)?;
        let hooks = if can_manage { deployments::hooks_of(conn, project.id)? } else { Vec::new() };
        Ok((project, all, releases, hooks, can_manage))
    })
    .await?;
    let mut seen = std::collections::BTreeSet::new();
    let latest = all.iter().filter(|(d, _)| seen.insert(d.environment.clone())).cloned().collect();
    let new_url =
        new_url.map(|token| format!("{}/hooks/deployments/{token}", crate::notify::mail::base_url(&state.config)));
    let status = status_for(error.as_ref());
    let page = DeploymentsPage {
        nav: Nav::for_user(signed_in, "projects"),
        project,
        latest,
        all,
        releases,
        can_manage,
        hooks,
        new_url,
        error,
    };
    Ok(render_with_status(&page, status)?)
}

pub async fn show(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    deployments_page(&signed_in, &state, path.into_inner(), None, None).await
}

#[derive(Deserialize)]
pub struct HookForm {
    #[serde(default)]
    name: String,
}

pub async fn create_hook(
    form: CsrfForm<HookForm>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    let key = path.into_inner();
    let (user, actor, lookup) = (signed_in.user().clone(), signed_in.actor.clone(), key.clone());
    let created = db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &lookup, |p| Action::ManageProject(p))?;
        deployments::create_hook(conn, &actor, &project, &data.name)
    })
    .await;
    match created {
        // The URL carries the secret: shown on this response only.
        Ok((_, token)) => deployments_page(&signed_in, &state, key, Some(token), None).await,
        Err(error @ AppError::Invalid { .. }) => deployments_page(&signed_in, &state, key, None, Some(error)).await,
        Err(other) => Err(other.into()),
    }
}

pub async fn revoke_hook(
    form: CsrfForm<std::collections::HashMap<String, String>>,
    state: web::Data<AppState>,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, PageError> {
    let signed_in = form.signed_in;
    let (key, hook_id) = path.into_inner();
    let (user, actor, lookup) = (signed_in.user().clone(), signed_in.actor.clone(), key.clone());
    db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &lookup, |p| Action::ManageProject(p))?;
        deployments::revoke_hook(conn, &actor, &project, hook_id)
    })
    .await?;
    Ok(redirect(&format!("/projects/{key}/deployments")))
}

#[derive(Serialize, ToSchema)]
pub struct DeploymentList {
    deployments: Vec<ShippedDeployment>,
}

/// The project's newest 100 deployments, each with the issues it shipped.
#[utoipa::path(get, path = "/api/v1/projects/{key}/deployments", tag = "deployments", params(ProjectPath),
    responses((status = 200, body = DeploymentList)))]
pub async fn api_list(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = path.into_inner();
    let user = caller.user.clone();
    let all = db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Action::ViewProject(p))?;
        Ok(deployments::recent(conn, &project, SHOWN)?)
    })
    .await?;
    let deployments = all.into_iter().map(|(deployment, issues)| ShippedDeployment { deployment, issues }).collect();
    Ok(HttpResponse::Ok().json(DeploymentList { deployments }))
}

#[derive(Serialize, ToSchema)]
pub struct ReleaseList {
    releases: Vec<Release>,
}

/// Every version of the project (unreleased first) with its issues and where it is deployed.
#[utoipa::path(get, path = "/api/v1/projects/{key}/releases", tag = "deployments", params(ProjectPath),
    responses((status = 200, body = ReleaseList)))]
pub async fn api_releases(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let key = path.into_inner();
    let user = caller.user.clone();
    let list = db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Action::ViewProject(p))?;
        Ok(releases::of_project(conn, &project)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(ReleaseList { releases: list }))
}
