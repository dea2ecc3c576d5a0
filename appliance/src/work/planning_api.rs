//! REST API v1 for planning: sprints, boards, moving an issue (transition, rank, sprint in
//! one go), saved filters and bulk edit. Each calls the same domain function as its page.

use actix_web::{web, HttpResponse};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, Type};
use utoipa::{IntoParams, ToSchema};

use super::boards;
use super::bulk::{self, BulkChange};
use super::issue_fields::parse_date;
use super::issues;
use super::projects;
use super::ranking::Placement;
use super::saved_filters::{self, SavedFilter};
use super::sprints::{self, Completion, NewSprint, Sprint};
use super::workflows::Workflow;
use crate::db;
use crate::errors::AppError;
use crate::identity::permissions::Action;
use crate::web::errors::{ApiError, ErrorDetail};
use crate::web::extract::{ApiCaller, ApiJson};
use crate::web::openapi::{IssuePath, ProjectItemPath, ProjectPath};
use crate::web::AppState;

type ApiResult = Result<HttpResponse, ApiError>;

/// A sprint named in a body: its id, or `"backlog"` (`Some(None)`); absent is `None`.
fn sprint_choice(value: &Option<Value>) -> Result<Option<Option<i64>>, AppError> {
    let refused = || AppError::invalid("sprint", "A sprint is an id or \"backlog\".");
    match value {
        None => Ok(None),
        Some(Value::String(text)) if text == "backlog" => Ok(Some(None)),
        Some(Value::Number(id)) => Ok(Some(Some(id.as_i64().ok_or_else(refused)?))),
        Some(_) => Err(refused()),
    }
}

/// The document's shape for [`sprint_choice`]: an id, the word `backlog`, or null (leave it).
fn sprint_choice_schema() -> Schema {
    OneOfBuilder::new()
        .item(ObjectBuilder::new().schema_type(Type::Integer))
        .item(ObjectBuilder::new().schema_type(Type::String).enum_values(Some(["backlog"])))
        .item(ObjectBuilder::new().schema_type(Type::Null))
        .description(Some("A sprint's id, or `\"backlog\"`; absent or null leaves it."))
        .into()
}

#[derive(Serialize, ToSchema)]
pub struct SprintList {
    sprints: Vec<Sprint>,
}

/// The open sprints, the active one first.
#[utoipa::path(get, path = "/api/v1/projects/{key}/sprints", tag = "planning", params(ProjectPath),
    responses((status = 200, body = SprintList)))]
pub async fn list_sprints(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<String>) -> ApiResult {
    let (key, user) = (path.into_inner(), caller.user.clone());
    let sprints = db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Action::ViewProject(p))?;
        Ok(sprints::open_sprints(conn, project.id)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(SprintList { sprints }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SprintInput {
    #[schema(min_length = 1, max_length = 80)]
    name: String,
    #[serde(default)]
    goal: String,
    /// `YYYY-MM-DD`.
    #[serde(default)]
    starts_on: Option<String>,
    /// `YYYY-MM-DD`, not before `starts_on`.
    #[serde(default)]
    ends_on: Option<String>,
}

/// Plans a sprint (project leads and administrators).
#[utoipa::path(post, path = "/api/v1/projects/{key}/sprints", tag = "planning", params(ProjectPath),
    request_body = SprintInput, responses((status = 201, body = Sprint)))]
pub async fn create_sprint(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: ApiJson<SprintInput>,
) -> ApiResult {
    let ApiJson(input) = body;
    let (key, user, actor) = (path.into_inner(), caller.user.clone(), caller.actor.clone());
    let sprint = db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Action::ManageSprints(p))?;
        let new = NewSprint {
            name: input.name,
            goal: input.goal,
            starts_on: parse_date("starts_on", input.starts_on.as_deref().unwrap_or(""))?,
            ends_on: parse_date("ends_on", input.ends_on.as_deref().unwrap_or(""))?,
        };
        sprints::create(conn, &actor, &project, new)
    })
    .await?;
    Ok(HttpResponse::Created().json(sprint))
}

#[derive(Serialize, ToSchema)]
pub struct SprintStarted {
    sprint: Sprint,
}

/// Starts a planned sprint; a project has one active sprint at a time.
#[utoipa::path(post, path = "/api/v1/projects/{key}/sprints/{id}/start", tag = "planning",
    params(ProjectItemPath), responses((status = 200, body = SprintStarted)))]
pub async fn start_sprint(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<ProjectItemPath>,
) -> ApiResult {
    let (ProjectItemPath { key, id }, user, actor) = (path.into_inner(), caller.user.clone(), caller.actor.clone());
    let sprint = db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Action::ManageSprints(p))?;
        sprints::start(conn, &actor, &project, id)
    })
    .await?;
    Ok(HttpResponse::Ok().json(SprintStarted { sprint }))
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CompleteInput {
    /// A planned sprint's id for the unfinished issues; absent: the backlog.
    #[serde(default)]
    move_to: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct SprintCompleted {
    completed: Completion,
}

/// Completes the active sprint; its unfinished issues go to `move_to` or the backlog. The
/// body may be empty (or `null`).
#[utoipa::path(post, path = "/api/v1/projects/{key}/sprints/{id}/complete", tag = "planning",
    params(ProjectItemPath), request_body(content = Option<CompleteInput>),
    responses((status = 200, body = SprintCompleted)))]
pub async fn complete_sprint(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<ProjectItemPath>,
    body: web::Bytes,
) -> ApiResult {
    let input: CompleteInput = if body.iter().all(u8::is_ascii_whitespace) || body.trim_ascii() == b"null" {
        CompleteInput::default()
    } else {
        crate::web::extract::decode_json(&body)?
    };
    let (ProjectItemPath { key, id }, user, actor) = (path.into_inner(), caller.user.clone(), caller.actor.clone());
    let completed = db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Action::ManageSprints(p))?;
        sprints::complete(conn, &actor, &project, id, input.move_to)
    })
    .await?;
    Ok(HttpResponse::Ok().json(SprintCompleted { completed }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveInput {
    /// A status the workflow lets the issue move to.
    #[serde(default)]
    status: Option<String>,
    /// Rank the issue just before this issue key.
    #[serde(default)]
    before: Option<String>,
    /// Rank the issue just after this issue key.
    #[serde(default)]
    after: Option<String>,
    /// up, down, top or bottom.
    #[serde(default)]
    direction: Option<String>,
    #[serde(default)]
    #[schema(schema_with = sprint_choice_schema)]
    sprint: Option<Value>,
}

#[derive(Serialize, ToSchema)]
pub struct Moved {
    /// The status the issue is in afterwards.
    status: String,
}

/// A transition, a rank and a sprint, in one transaction, as a board card's drag does.
#[utoipa::path(post, path = "/api/v1/issues/{issue}/move", tag = "planning", params(IssuePath),
    request_body = MoveInput, responses((status = 200, body = Moved)))]
pub async fn move_issue(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: ApiJson<MoveInput>,
) -> ApiResult {
    let ApiJson(input) = body;
    let placement = Placement::parse(input.before.as_deref(), input.after.as_deref(), input.direction.as_deref())?;
    let sprint = sprint_choice(&input.sprint)?;
    let (key, user, actor) = (path.into_inner(), caller.user.clone(), caller.actor.clone());
    let status = db::run(&state.pool, move |conn| {
        let (project, issue) = issues::find_editable(conn, &user, &key)?;
        boards::move_card(conn, &actor, &user, &project, issue, input.status, sprint, placement)
    })
    .await?;
    Ok(HttpResponse::Ok().json(Moved { status }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BoardInput {
    /// A saved filter's id, as the Kanban board's source.
    #[serde(default)]
    filter: Option<i64>,
    /// `true` for the Scrum board of the active sprint.
    #[serde(default)]
    sprint: bool,
    /// assignee, epic or priority.
    #[serde(default)]
    swimlanes: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct BoardColumn {
    status: String,
    wip_limit: Option<i32>,
    count: usize,
    over_limit: bool,
}

#[derive(Serialize, ToSchema)]
pub struct BoardLane {
    /// The swimlane's heading; absent without swimlanes.
    title: Option<String>,
    /// Per column, the card keys in rank order.
    cards: Vec<Vec<String>>,
}

#[derive(Serialize, ToSchema)]
pub struct BoardBody {
    sprint: Option<Sprint>,
    columns: Vec<BoardColumn>,
    lanes: Vec<BoardLane>,
    /// Whether a column held more cards than a board shows.
    truncated: bool,
}

/// Columns (statuses with their WIP limits and counts) and lanes of card keys, in rank
/// order, as the board page shows them.
#[utoipa::path(get, path = "/api/v1/projects/{key}/board", tag = "planning", params(ProjectPath, BoardInput),
    responses((status = 200, body = BoardBody)))]
pub async fn board(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<BoardInput>,
) -> ApiResult {
    let (key, user, input) = (path.into_inner(), caller.user.clone(), query.into_inner());
    let swimlanes = boards::Swimlanes::parse(input.swimlanes.as_deref())?;
    let body = db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Action::ViewProject(p))?;
        let source_query = match input.filter {
            Some(id) => {
                let filter = saved_filters::find_visible(conn, &user, project.id, id)?;
                Some(saved_filters::check_query(conn, &project, user.id, &filter.oql)?)
            }
            None => None,
        };
        let sprint = if input.sprint {
            let active = sprints::open_sprints(conn, project.id)?.into_iter().find(sprints::Sprint::is_active);
            Some(active.ok_or_else(|| AppError::not_found(format!("No sprint of {} is active.", project.key)))?)
        } else {
            None
        };
        let workflow = Workflow::of(conn, &project)?;
        let source = boards::Source {
            project_id: project.id,
            filter: source_query.as_ref(),
            sprint: sprint.as_ref().map(|s| s.id),
            swimlanes,
            me: user.id,
        };
        let board = boards::load(conn, &workflow, &source)?;
        let columns = board
            .statuses
            .iter()
            .enumerate()
            .map(|(i, s)| BoardColumn {
                status: s.name.clone(),
                wip_limit: s.wip_limit,
                count: board.counts[i],
                over_limit: board.over_limit(&i),
            })
            .collect();
        let lanes = board
            .lanes
            .into_iter()
            .map(|lane| BoardLane {
                title: lane.title,
                cards: lane.cells.into_iter().map(|cell| cell.into_iter().map(|c| c.key).collect()).collect(),
            })
            .collect();
        Ok(BoardBody { sprint, columns, lanes, truncated: board.truncated })
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

#[derive(Serialize, ToSchema)]
pub struct FilterList {
    filters: Vec<SavedFilter>,
}

/// The caller's own and the shared saved filters.
#[utoipa::path(get, path = "/api/v1/projects/{key}/filters", tag = "planning", params(ProjectPath),
    responses((status = 200, body = FilterList)))]
pub async fn list_filters(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<String>) -> ApiResult {
    let (key, user) = (path.into_inner(), caller.user.clone());
    let filters = db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Action::ViewProject(p))?;
        Ok(saved_filters::visible(conn, &user, project.id)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(FilterList { filters }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FilterInput {
    #[schema(min_length = 1, max_length = 80)]
    name: String,
    /// An OQL query, checked before it is saved.
    oql: String,
    /// Whether the project's other members see it.
    #[serde(default)]
    shared: bool,
}

/// Saves an OQL query under a name.
#[utoipa::path(post, path = "/api/v1/projects/{key}/filters", tag = "planning", params(ProjectPath),
    request_body = FilterInput, responses((status = 201, body = SavedFilter)))]
pub async fn create_filter(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: ApiJson<FilterInput>,
) -> ApiResult {
    let ApiJson(input) = body;
    let (key, user, actor) = (path.into_inner(), caller.user.clone(), caller.actor.clone());
    let filter = db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Action::ViewProject(p))?;
        saved_filters::create(conn, &actor, &user, &project, &input.name, &input.oql, input.shared)
    })
    .await?;
    Ok(HttpResponse::Created().json(filter))
}

/// Deletes one of the caller's saved filters (a project's managers may delete shared ones).
#[utoipa::path(delete, path = "/api/v1/projects/{key}/filters/{id}", tag = "planning", params(ProjectItemPath),
    responses((status = 204, description = "Deleted")))]
pub async fn delete_filter(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<(String, i64)>) -> ApiResult {
    let ((key, id), user, actor) = (path.into_inner(), caller.user.clone(), caller.actor.clone());
    db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Action::ViewProject(p))?;
        saved_filters::delete(conn, &actor, &user, &project, id)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BulkInput {
    /// Issue keys of this project.
    issues: Vec<String>,
    #[serde(default)]
    status: Option<String>,
    /// A user name, or `null` to unassign.
    #[serde(default, deserialize_with = "crate::web::extract::explicit_null")]
    assignee: Option<Option<String>>,
    #[serde(default)]
    add_labels: Vec<String>,
    #[serde(default)]
    #[schema(schema_with = sprint_choice_schema)]
    sprint: Option<Value>,
    /// Change the issues that can take the change and report the others, instead of
    /// changing nothing when any is refused.
    #[serde(default)]
    skip_refused: bool,
}

#[derive(Serialize, ToSchema)]
pub struct BulkResult {
    written: bool,
    results: Vec<bulk::Outcome>,
}

/// A refused bulk change: the error, and when the refusal is about some of the issues,
/// the result for each issue.
#[derive(Serialize, ToSchema)]
pub struct BulkRefusal {
    error: ErrorDetail,
    /// `false`: nothing was changed.
    #[schema(required = false)]
    written: bool,
    #[schema(required = false)]
    results: Vec<bulk::Outcome>,
}

/// One change to many issues, in one transaction: a result per issue, or 422 with the
/// results when refusals stopped it (nothing written).
#[utoipa::path(post, path = "/api/v1/projects/{key}/bulk", tag = "planning", params(ProjectPath),
    request_body = BulkInput, responses((status = 200, body = BulkResult), (status = 422, body = BulkRefusal)))]
pub async fn bulk_edit(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: ApiJson<BulkInput>,
) -> ApiResult {
    let ApiJson(input) = body;
    let sprint = sprint_choice(&input.sprint)?;
    let change = BulkChange { status: input.status, assignee: input.assignee, add_labels: input.add_labels, sprint };
    let (key, user, actor) = (path.into_inner(), caller.user.clone(), caller.actor.clone());
    let applied = db::run(&state.pool, move |conn| {
        let project = projects::find_by_key(conn, &key)?;
        bulk::authorize_change(&user, &project, &change)?;
        bulk::apply(conn, &actor, &project, &input.issues, &change, input.skip_refused)
    })
    .await?;
    Ok(match applied {
        Ok(results) => HttpResponse::Ok().json(BulkResult { written: true, results }),
        Err(bulk::Refused(results)) => HttpResponse::UnprocessableEntity().json(BulkRefusal {
            written: false,
            results,
            error: ErrorDetail::invalid("issues", "Some issues cannot take this change, so nothing was changed."),
        }),
    })
}
