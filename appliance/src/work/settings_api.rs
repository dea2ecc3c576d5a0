//! REST API v1 for a project's configuration: its workflow and its field catalogue
//! (versions, components, custom fields).

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use diesel::Connection;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::fields::{self, Catalogue, FieldKind, Part};
use super::issue_fields::parse_date;
use super::kinds::StatusCategory;
use super::projects;
use super::workflows::{self, normalized, StatusDraft, Workflow, WorkflowDraft};
use crate::db;
use crate::errors::AppError;
use crate::identity::permissions::Action;
use crate::web::errors::{ApiError, ErrorBody};
use crate::web::etag::{self, IfMatch};
use crate::web::extract::{ApiCaller, ApiJson};
use crate::web::openapi::{IfMatchHeader, ProjectNamePath, ProjectPath};
use crate::web::AppState;

type ApiResult = Result<HttpResponse, ApiError>;

#[derive(Serialize, ToSchema)]
pub struct StatusBody {
    id: i64,
    name: String,
    category: StatusCategory,
    wip_limit: Option<i32>,
    /// The statuses an issue here may move to.
    transitions: Vec<String>,
}

/// A workflow as the API shows it: statuses in board order, each with where it may go.
#[derive(Serialize, ToSchema)]
pub struct WorkflowBody {
    statuses: Vec<StatusBody>,
}

impl From<&Workflow> for WorkflowBody {
    fn from(workflow: &Workflow) -> WorkflowBody {
        let statuses = workflow
            .statuses
            .iter()
            .map(|s| StatusBody {
                id: s.id,
                name: s.name.clone(),
                category: s.category,
                wip_limit: s.wip_limit,
                transitions: workflow.targets(s.id).map(|t| t.name.clone()).collect(),
            })
            .collect();
        WorkflowBody { statuses }
    }
}

/// The project's statuses in board order and where each may go. Its `ETag` goes in
/// `If-Match` when replacing it.
#[utoipa::path(get, path = "/api/v1/projects/{key}/workflow", tag = "projects", params(ProjectPath),
    responses((status = 200, body = WorkflowBody, headers(("ETag" = String, description = "The workflow's tag"))),
        (status = 304, description = "Unchanged since the `If-None-Match` tag")))]
pub async fn get_workflow(
    req: HttpRequest,
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> ApiResult {
    let (key, user) = (path.into_inner(), caller.user.clone());
    let workflow = db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Action::ViewProject(p))?;
        Ok(Workflow::load(conn, project.id)?)
    })
    .await?;
    Ok(etag::answer(&req, &WorkflowBody::from(&workflow)))
}

/// Removes a catalogue entry: a version or component only while no issue uses it; a custom
/// field with its values.
async fn remove_entry(caller: ApiCaller, state: web::Data<AppState>, path: ProjectNamePath, part: Part) -> ApiResult {
    let (ProjectNamePath { key, name }, user, actor) = (path, caller.user.clone(), caller.actor.clone());
    db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Action::ManageProject(p))?;
        fields::remove(conn, &actor, &project, part, &name)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// Removes a version while no issue has it as fix version.
#[utoipa::path(delete, path = "/api/v1/projects/{key}/versions/{name}", tag = "projects", params(ProjectNamePath),
    responses((status = 204, description = "Removed")))]
pub async fn remove_version(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<ProjectNamePath>,
) -> ApiResult {
    remove_entry(caller, state, path.into_inner(), Part::Version).await
}

/// Removes a component while no issue has it.
#[utoipa::path(delete, path = "/api/v1/projects/{key}/components/{name}", tag = "projects", params(ProjectNamePath),
    responses((status = 204, description = "Removed")))]
pub async fn remove_component(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<ProjectNamePath>,
) -> ApiResult {
    remove_entry(caller, state, path.into_inner(), Part::Component).await
}

/// Removes a custom field and every issue's value of it.
#[utoipa::path(delete, path = "/api/v1/projects/{key}/fields/{name}", tag = "projects", params(ProjectNamePath),
    responses((status = 204, description = "Removed")))]
pub async fn remove_field(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<ProjectNamePath>,
) -> ApiResult {
    remove_entry(caller, state, path.into_inner(), Part::CustomField).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChoicesInput {
    options: Vec<String>,
}

/// Replaces a select field's choices; a choice issues still hold cannot be dropped.
#[utoipa::path(put, path = "/api/v1/projects/{key}/fields/{name}", tag = "projects", params(ProjectNamePath),
    request_body = ChoicesInput, responses((status = 200, body = Catalogue)))]
pub async fn set_choices(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<ProjectNamePath>,
    body: ApiJson<ChoicesInput>,
) -> ApiResult {
    let ApiJson(input) = body;
    let (ProjectNamePath { key, name }, user, actor) = (path.into_inner(), caller.user.clone(), caller.actor.clone());
    let catalogue = db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Action::ManageProject(p))?;
        fields::set_choices(conn, &actor, &project, &name, &input.options.join(","))?;
        Ok(Catalogue::load(conn, project.id)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(catalogue))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StatusInput {
    /// An existing status's id, to rename it; without one a status is matched by name.
    #[serde(default)]
    id: Option<i64>,
    name: String,
    /// to_do, in_progress or done.
    category: String,
    #[serde(default)]
    wip_limit: Option<i32>,
    /// Where an issue here may move, as the GET shows it (so a read workflow can be put back).
    #[serde(default)]
    transitions: Vec<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WorkflowInput {
    /// In board order; the first is where new issues start.
    statuses: Vec<StatusInput>,
    /// Allowed moves as `[from, to]` status names, besides each status's own `transitions`.
    #[serde(default)]
    #[schema(schema_with = transition_pairs)]
    transitions: Vec<(String, String)>,
}

/// The document's shape of `transitions`: pairs of status names.
fn transition_pairs() -> utoipa::openapi::schema::Array {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, Type};
    let pair =
        ArrayBuilder::new().items(ObjectBuilder::new().schema_type(Type::String)).min_items(Some(2)).max_items(Some(2));
    ArrayBuilder::new().items(pair).build()
}

/// Replaces the workflow. A listed status keeps its issues when it gives an existing
/// status's `id` (to rename it) or its name (ignoring case, spaces, `_` and `-`); statuses
/// left out are removed, which is refused while they hold issues.
#[utoipa::path(put, path = "/api/v1/projects/{key}/workflow", tag = "projects", params(ProjectPath, IfMatchHeader),
    request_body = WorkflowInput,
    responses((status = 200, body = WorkflowBody, headers(("ETag" = String, description = "The workflow's new tag"))),
        (status = 412, description = "The workflow changed since it was read", body = ErrorBody)))]
pub async fn put_workflow(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    if_match: IfMatch,
    body: ApiJson<WorkflowInput>,
) -> ApiResult {
    let ApiJson(input) = body;
    let (key, user, actor) = (path.into_inner(), caller.user.clone(), caller.actor.clone());
    let saved = db::run(&state.pool, move |conn| {
        conn.transaction(|conn| {
            let project = projects::find_allowed(conn, &user, &key, |p| Action::ManageProject(p))?;
            projects::lock(conn, project.id)?;
            let current = Workflow::load(conn, project.id)?;
            let before = if_match.before(|| Ok(WorkflowBody::from(&current)))?;
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
            let per_status = input.statuses.iter().flat_map(|s| s.transitions.iter().map(|to| (&s.name, to)));
            let mut transitions = Vec::with_capacity(input.transitions.len());
            for (from, to) in input.transitions.iter().map(|(from, to)| (from, to)).chain(per_status) {
                transitions.push((index(from)?, index(to)?));
            }
            let saved = workflows::save(conn, &actor, &project, WorkflowDraft { statuses, transitions })?;
            if_match.check(before)?;
            Ok(saved)
        })
    })
    .await?;
    let body = WorkflowBody::from(&saved);
    Ok(HttpResponse::Ok().insert_header((header::ETAG, etag::tag_of(&body))).json(body))
}

/// The project's versions, components and custom fields.
#[utoipa::path(get, path = "/api/v1/projects/{key}/fields", tag = "projects", params(ProjectPath),
    responses((status = 200, body = Catalogue)))]
pub async fn get_fields(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<String>) -> ApiResult {
    let (key, user) = (path.into_inner(), caller.user.clone());
    let catalogue = db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Action::ViewProject(p))?;
        Ok(Catalogue::load(conn, project.id)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(catalogue))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VersionInput {
    #[schema(min_length = 1, max_length = 80)]
    name: String,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    release_date: Option<String>,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ComponentInput {
    #[schema(min_length = 1, max_length = 80)]
    name: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomFieldInput {
    #[schema(min_length = 1, max_length = 80)]
    name: String,
    /// text, number, date, select, multiselect or user.
    kind: String,
    /// The choices of a select or multi-select field.
    #[serde(default)]
    options: Vec<String>,
}

/// One new catalogue entry, as each of its endpoints reads it.
enum NewEntry {
    Version(VersionInput),
    Component(ComponentInput),
    CustomField(CustomFieldInput),
}

/// Adds an entry (project leads and administrators) and answers with the whole catalogue.
async fn add_entry(caller: ApiCaller, state: web::Data<AppState>, key: String, entry: NewEntry) -> ApiResult {
    let (user, actor) = (caller.user.clone(), caller.actor.clone());
    let catalogue = db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Action::ManageProject(p))?;
        match entry {
            NewEntry::Version(input) => {
                let date = parse_date("release_date", input.release_date.as_deref().unwrap_or(""))?;
                fields::add_version(conn, &actor, &project, &input.name, date)?
            }
            NewEntry::Component(input) => fields::add_component(conn, &actor, &project, &input.name)?,
            NewEntry::CustomField(input) => {
                let kind = FieldKind::parse(&input.kind)?;
                fields::add_custom_field(conn, &actor, &project, &input.name, kind, &input.options.join(","))?
            }
        }
        Ok(Catalogue::load(conn, project.id)?)
    })
    .await?;
    Ok(HttpResponse::Created().json(catalogue))
}

/// Adds a version (a release that issues can be fixed in).
#[utoipa::path(post, path = "/api/v1/projects/{key}/versions", tag = "projects", params(ProjectPath),
    request_body = VersionInput, responses((status = 201, body = Catalogue)))]
pub async fn add_version(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: ApiJson<VersionInput>,
) -> ApiResult {
    add_entry(caller, state, path.into_inner(), NewEntry::Version(body.0)).await
}

/// Adds a component.
#[utoipa::path(post, path = "/api/v1/projects/{key}/components", tag = "projects", params(ProjectPath),
    request_body = ComponentInput, responses((status = 201, body = Catalogue)))]
pub async fn add_component(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: ApiJson<ComponentInput>,
) -> ApiResult {
    add_entry(caller, state, path.into_inner(), NewEntry::Component(body.0)).await
}

/// Adds a custom field.
#[utoipa::path(post, path = "/api/v1/projects/{key}/fields", tag = "projects", params(ProjectPath),
    request_body = CustomFieldInput, responses((status = 201, body = Catalogue)))]
pub async fn add_field(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: ApiJson<CustomFieldInput>,
) -> ApiResult {
    add_entry(caller, state, path.into_inner(), NewEntry::CustomField(body.0)).await
}
