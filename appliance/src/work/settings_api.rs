//! REST API v1 for a project's configuration: its workflow and its field catalogue
//! (versions, components, custom fields).

use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::fields::{self, Catalogue, FieldKind};
use super::issue_fields::parse_date;
use super::kinds::StatusCategory;
use super::projects;
use super::workflows::{self, normalized, StatusDraft, Workflow, WorkflowDraft};
use crate::db;
use crate::errors::AppError;
use crate::identity::permissions::Action;
use crate::web::errors::ApiError;
use crate::web::extract::{ApiCaller, ApiJson};
use crate::web::AppState;

type ApiResult = Result<HttpResponse, ApiError>;

/// `GET /api/v1/projects/{key}/workflow`: the statuses in board order and where each may go.
pub async fn get_workflow(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<String>) -> ApiResult {
    let (key, user) = (path.into_inner(), caller.user.clone());
    let workflow = db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Action::ViewProject(p))?;
        Ok(Workflow::load(conn, project.id)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(workflow_json(&workflow)))
}

/// A workflow as the API shows it: statuses in board order, each with where it may go.
fn workflow_json(workflow: &Workflow) -> serde_json::Value {
    let statuses: Vec<_> = workflow
        .statuses
        .iter()
        .map(|s| {
            let targets: Vec<&str> = workflow.targets(s.id).map(|t| t.name.as_str()).collect();
            json!({ "id": s.id, "name": s.name, "category": s.category, "wip_limit": s.wip_limit, "transitions": targets })
        })
        .collect();
    json!({ "statuses": statuses })
}

/// `DELETE /api/v1/projects/{key}/versions|components|fields/{name}`: a version or component
/// only while no issue uses it; a custom field with its values.
pub async fn remove_entry(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<(String, String, String)>,
) -> ApiResult {
    let ((key, part, name), user, actor) = (path.into_inner(), caller.user.clone(), caller.actor.clone());
    let part = match part.as_str() {
        "versions" => fields::Part::Version,
        "components" => fields::Part::Component,
        _ => fields::Part::CustomField,
    };
    db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Action::ManageProject(p))?;
        fields::remove(conn, &actor, &project, part, &name)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChoicesInput {
    options: Vec<String>,
}

/// `PUT /api/v1/projects/{key}/fields/{name}`: a select field's choices.
pub async fn set_choices(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: ApiJson<ChoicesInput>,
) -> ApiResult {
    let ApiJson(input) = body;
    let ((key, name), user, actor) = (path.into_inner(), caller.user.clone(), caller.actor.clone());
    let catalogue = db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Action::ManageProject(p))?;
        fields::set_choices(conn, &actor, &project, &name, &input.options.join(","))?;
        Ok(Catalogue::load(conn, project.id)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "custom_fields": catalogue.custom_fields })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatusInput {
    /// An existing status's id, to rename it; without one a status is matched by name.
    #[serde(default)]
    id: Option<i64>,
    name: String,
    category: String,
    #[serde(default)]
    wip_limit: Option<i32>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkflowInput {
    /// In board order; the first is where new issues start.
    statuses: Vec<StatusInput>,
    /// Allowed moves as `[from, to]` status names.
    transitions: Vec<(String, String)>,
}

/// `PUT /api/v1/projects/{key}/workflow`: replaces the workflow. A listed status keeps its
/// issues when it gives an existing status's `id` (to rename it) or its name (ignoring case,
/// spaces, `_` and `-`); statuses left out are removed, which is refused while they hold issues.
pub async fn put_workflow(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: ApiJson<WorkflowInput>,
) -> ApiResult {
    let ApiJson(input) = body;
    let (key, user, actor) = (path.into_inner(), caller.user.clone(), caller.actor.clone());
    let saved = db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Action::ManageProject(p))?;
        let current = Workflow::load(conn, project.id)?;
        let mut statuses = Vec::with_capacity(input.statuses.len());
        for status in &input.statuses {
            let existing = match status.id {
                Some(id) => Some(current.status(id).map_err(|_| {
                    AppError::invalid("statuses", format!("Status {id} is not part of this project's workflow."))
                })?),
                None => current.statuses.iter().find(|s| normalized(&s.name) == normalized(&status.name)),
            };
            statuses.push(StatusDraft {
                id: existing.map(|s| s.id),
                name: status.name.clone(),
                category: StatusCategory::parse(&status.category)?,
                wip_limit: status.wip_limit,
                remove: false,
            });
        }
        for old in &current.statuses {
            if !statuses.iter().any(|s| s.id == Some(old.id)) {
                statuses.push(StatusDraft {
                    id: Some(old.id),
                    name: old.name.clone(),
                    category: old.category,
                    wip_limit: None,
                    remove: true,
                });
            }
        }
        let index = |name: &str| {
            input.statuses.iter().position(|s| normalized(&s.name) == normalized(name)).ok_or_else(|| {
                AppError::invalid(
                    "transitions",
                    format!("The transition names \"{name}\", which is not one of the statuses given."),
                )
            })
        };
        let mut transitions = Vec::with_capacity(input.transitions.len());
        for (from, to) in &input.transitions {
            transitions.push((index(from)?, index(to)?));
        }
        workflows::save(conn, &actor, &project, WorkflowDraft { statuses, transitions })
    })
    .await?;
    Ok(HttpResponse::Ok().json(workflow_json(&saved)))
}

/// `GET /api/v1/projects/{key}/fields`: versions, components and custom fields.
pub async fn get_fields(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<String>) -> ApiResult {
    let (key, user) = (path.into_inner(), caller.user.clone());
    let catalogue = db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Action::ViewProject(p))?;
        Ok(Catalogue::load(conn, project.id)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({
        "versions": catalogue.versions,
        "components": catalogue.components,
        "custom_fields": catalogue.custom_fields,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogueInput {
    name: String,
    #[serde(default)]
    release_date: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    /// Choices of a select or multi-select field.
    #[serde(default)]
    options: Vec<String>,
}

/// `POST /api/v1/projects/{key}/versions|components|fields`: adds one entry (project leads
/// and administrators).
pub async fn add_entry(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
    body: ApiJson<CatalogueInput>,
) -> ApiResult {
    let ApiJson(input) = body;
    let ((key, part), user, actor) = (path.into_inner(), caller.user.clone(), caller.actor.clone());
    db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Action::ManageProject(p))?;
        match part.as_str() {
            "versions" => {
                let date = parse_date("release_date", input.release_date.as_deref().unwrap_or(""))?;
                fields::add_version(conn, &actor, &project, &input.name, date)
            }
            "components" => fields::add_component(conn, &actor, &project, &input.name),
            _ => {
                let kind = FieldKind::parse(input.kind.as_deref().unwrap_or(""))?;
                fields::add_custom_field(conn, &actor, &project, &input.name, kind, &input.options.join(","))
            }
        }
    })
    .await?;
    Ok(HttpResponse::Created().json(json!({ "created": true })))
}
