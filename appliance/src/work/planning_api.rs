//! REST API v1 for planning and the actions on an issue beyond editing it: sprints, moving
//! (transition, rank, sprint), saved filters, bulk edit, links, work log, watching, and CSV
//! import and export. Each calls the same domain function as its page.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::Deserialize;
use serde_json::json;

use super::boards;
use super::bulk::{self, BulkChange};
use super::csv_io::{self, ImportOptions, Target};
use super::fields::Catalogue;
use super::import_pages::EXPORT_MAX;
use super::issue_fields::parse_date;
use super::issue_list::{self, IssueFilter, IssueQuery};
use super::issues::{self, Issue};
use super::projects::{self, Project};
use super::ranking::Placement;
use super::saved_filters;
use super::sprints::{self, NewSprint};
use super::time_tracking::{self, parse_duration};
use super::workflows::Workflow;
use super::{links, watchers};
use crate::db;
use crate::errors::AppError;
use crate::identity::permissions::{authorize, Action};
use crate::identity::users::User;
use crate::web::errors::ApiError;
use crate::web::extract::{ApiCaller, ApiJson};
use crate::web::AppState;

type ApiResult = Result<HttpResponse, ApiError>;

fn issue_for(conn: &mut diesel::PgConnection, user: &User, key: &str) -> Result<(Project, Issue), AppError> {
    let (project, issue) = issues::find_by_key(conn, key)?;
    authorize(user, Action::EditIssue(&project))?;
    Ok((project, issue))
}

/// `GET /api/v1/projects/{key}/sprints`: the open sprints, the active one first.
pub async fn list_sprints(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<String>) -> ApiResult {
    let (key, user) = (path.into_inner(), caller.user.clone());
    let sprints = db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Action::ViewProject(p))?;
        Ok(sprints::open_sprints(conn, project.id)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "sprints": sprints })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SprintInput {
    name: String,
    #[serde(default)]
    goal: String,
    #[serde(default)]
    starts_on: Option<String>,
    #[serde(default)]
    ends_on: Option<String>,
}

/// `POST /api/v1/projects/{key}/sprints` (project leads and administrators).
pub async fn create_sprint(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: ApiJson<SprintInput>,
) -> ApiResult {
    let ApiJson(input) = body;
    let (key, user, actor) = (path.into_inner(), caller.user.clone(), caller.actor.clone());
    let sprint = db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Action::ManageProject(p))?;
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

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct CompleteInput {
    /// A planned sprint's id for the unfinished issues; absent: the backlog.
    #[serde(default)]
    move_to: Option<i64>,
}

/// `POST /api/v1/projects/{key}/sprints/{id}/start|complete`.
pub async fn sprint_action(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<(String, i64, String)>,
    body: web::Bytes,
) -> ApiResult {
    let input: CompleteInput = if body.iter().all(u8::is_ascii_whitespace) {
        CompleteInput::default()
    } else {
        crate::web::extract::decode_json(&body)?
    };
    let ((key, id, action), user, actor) = (path.into_inner(), caller.user.clone(), caller.actor.clone());
    let done = db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Action::ManageProject(p))?;
        match action.as_str() {
            "start" => Ok(json!({ "sprint": sprints::start(conn, &actor, &project, id)? })),
            "complete" => Ok(json!({ "completed": sprints::complete(conn, &actor, &project, id, input.move_to)? })),
            other => Err(AppError::not_found(format!("There is no sprint action \"{other}\"."))),
        }
    })
    .await?;
    Ok(HttpResponse::Ok().json(done))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MoveInput {
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    before: Option<String>,
    #[serde(default)]
    after: Option<String>,
    /// up, down, top or bottom.
    #[serde(default)]
    direction: Option<String>,
    /// A sprint id, or `"backlog"`.
    #[serde(default)]
    sprint: Option<serde_json::Value>,
}

/// `POST /api/v1/issues/{key}/move`: a transition, a rank and a sprint, in one transaction.
pub async fn move_issue(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: ApiJson<MoveInput>,
) -> ApiResult {
    let ApiJson(input) = body;
    let placement = Placement::parse(input.before.as_deref(), input.after.as_deref(), input.direction.as_deref())?;
    let sprint = match &input.sprint {
        None => None,
        Some(serde_json::Value::String(text)) if text == "backlog" => Some(None),
        Some(serde_json::Value::Number(id)) => {
            Some(Some(id.as_i64().ok_or_else(|| AppError::invalid("sprint", "A sprint is an id or \"backlog\"."))?))
        }
        Some(_) => return Err(AppError::invalid("sprint", "A sprint is an id or \"backlog\".").into()),
    };
    let (key, user, actor) = (path.into_inner(), caller.user.clone(), caller.actor.clone());
    let status = db::run(&state.pool, move |conn| {
        let (project, issue) = issue_for(conn, &user, &key)?;
        boards::move_card(conn, &actor, &project, issue, input.status, sprint, placement)
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "status": status })))
}

#[derive(Deserialize)]
pub struct BoardInput {
    /// A saved filter's id, as the Kanban board's source.
    #[serde(default)]
    filter: Option<i64>,
    /// `true` for the Scrum board of the active sprint.
    #[serde(default)]
    sprint: bool,
    #[serde(default)]
    swimlanes: Option<String>,
}

/// `GET /api/v1/projects/{key}/board?filter=&sprint=&swimlanes=`: columns (statuses with their
/// WIP limits and counts) and lanes of card keys, in rank order, as the board page shows them.
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
        let workflow = Workflow::load(conn, project.id)?;
        let source = boards::Source {
            project_id: project.id,
            filter: source_query.as_ref(),
            sprint: sprint.as_ref().map(|s| s.id),
            swimlanes,
            me: user.id,
        };
        let board = boards::load(conn, &workflow, &source)?;
        let columns: Vec<_> = board
            .statuses
            .iter()
            .enumerate()
            .map(|(i, s)| json!({ "status": s.name, "wip_limit": s.wip_limit, "count": board.counts[i], "over_limit": board.over_limit(&i) }))
            .collect();
        let lanes: Vec<_> = board
            .lanes
            .iter()
            .map(|lane| {
                let cells: Vec<Vec<&str>> = lane.cells.iter().map(|cell| cell.iter().map(|c| c.key.as_str()).collect()).collect();
                json!({ "title": lane.title, "cards": cells })
            })
            .collect();
        Ok(json!({ "sprint": sprint, "columns": columns, "lanes": lanes, "truncated": board.truncated }))
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}

/// `GET /api/v1/projects/{key}/filters`: the caller's and the shared saved filters.
pub async fn list_filters(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<String>) -> ApiResult {
    let (key, user) = (path.into_inner(), caller.user.clone());
    let filters = db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Action::ViewProject(p))?;
        Ok(saved_filters::visible(conn, &user, project.id)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "filters": filters })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilterInput {
    name: String,
    oql: String,
    #[serde(default)]
    shared: bool,
}

/// `POST /api/v1/projects/{key}/filters`.
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

/// `DELETE /api/v1/projects/{key}/filters/{id}`.
pub async fn delete_filter(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<(String, i64)>) -> ApiResult {
    let ((key, id), user, actor) = (path.into_inner(), caller.user.clone(), caller.actor.clone());
    db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Action::ViewProject(p))?;
        saved_filters::delete(conn, &actor, &user, project.id, id)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BulkInput {
    issues: Vec<String>,
    #[serde(default)]
    status: Option<String>,
    /// A user name, or `null` to unassign.
    #[serde(default, deserialize_with = "crate::web::extract::explicit_null")]
    assignee: Option<Option<String>>,
    #[serde(default)]
    add_labels: Vec<String>,
    /// A sprint id, or `"backlog"`.
    #[serde(default)]
    sprint: Option<serde_json::Value>,
    #[serde(default)]
    skip_refused: bool,
}

/// `POST /api/v1/projects/{key}/bulk`: 200 with a result per issue, or 422 with the results
/// when refusals stopped it (nothing written).
pub async fn bulk_edit(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: ApiJson<BulkInput>,
) -> ApiResult {
    let ApiJson(input) = body;
    let sprint = match &input.sprint {
        None => None,
        Some(serde_json::Value::String(text)) if text == "backlog" => Some(None),
        Some(serde_json::Value::Number(id)) => id.as_i64().map(Some),
        Some(_) => return Err(AppError::invalid("sprint", "A sprint is an id or \"backlog\".").into()),
    };
    let change = BulkChange { status: input.status, assignee: input.assignee, add_labels: input.add_labels, sprint };
    let (key, user, actor) = (path.into_inner(), caller.user.clone(), caller.actor.clone());
    let applied = db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Action::EditIssue(p))?;
        bulk::apply(conn, &actor, &project, &input.issues, &change, input.skip_refused)
    })
    .await?;
    Ok(match applied {
        Ok(outcomes) => HttpResponse::Ok().json(json!({ "written": true, "results": outcomes })),
        Err(bulk::Refused(outcomes)) => HttpResponse::UnprocessableEntity().json(json!({
            "written": false,
            "results": outcomes,
            "error": { "code": "invalid_field", "field": "issues", "message": "Some issues cannot take this change, so nothing was changed." },
        })),
    })
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkInput {
    /// blocks, is_blocked_by, relates, duplicates or is_duplicated_by.
    kind: String,
    issue: String,
}

/// `POST /api/v1/issues/{key}/links` and `DELETE /api/v1/issues/{key}/links/{id}`.
pub async fn create_link(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: ApiJson<LinkInput>,
) -> ApiResult {
    let ApiJson(input) = body;
    let (key, user, actor) = (path.into_inner(), caller.user.clone(), caller.actor.clone());
    let links = db::run(&state.pool, move |conn| {
        let (project, issue) = issue_for(conn, &user, &key)?;
        links::link(conn, &actor, &issue, &format!("{}-{}", project.key, issue.number), &input.kind, &input.issue)?;
        Ok(links::links_of(conn, issue.id)?)
    })
    .await?;
    Ok(HttpResponse::Created().json(json!({ "links": links })))
}

pub async fn delete_link(caller: ApiCaller, state: web::Data<AppState>, path: web::Path<(String, i64)>) -> ApiResult {
    let ((key, id), user, actor) = (path.into_inner(), caller.user.clone(), caller.actor.clone());
    db::run(&state.pool, move |conn| {
        let (_, issue) = issue_for(conn, &user, &key)?;
        links::unlink(conn, &actor, &issue, id)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkInput {
    /// A duration like `1h 30m`.
    time_spent: String,
    #[serde(default)]
    note: String,
}

/// `POST /api/v1/issues/{key}/work-log`.
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
        let (_, issue) = issue_for(conn, &user, &key)?;
        time_tracking::log_work(conn, &actor, &issue, user.id, minutes, &input.note)
    })
    .await?;
    Ok(HttpResponse::Created().json(log))
}

/// `PUT` / `DELETE /api/v1/issues/{key}/watchers/me`: start or stop watching.
pub async fn watch(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: actix_web::HttpRequest,
) -> ApiResult {
    let watching = req.method() == actix_web::http::Method::PUT;
    let (key, user, actor) = (path.into_inner(), caller.user.clone(), caller.actor.clone());
    let watchers = db::run(&state.pool, move |conn| {
        let (project, issue) = issues::find_by_key(conn, &key)?;
        authorize(&user, Action::ViewProject(&project))?;
        watchers::set_watching(conn, &actor, &issue, user.id, watching)?;
        Ok(watchers::watchers_of(conn, issue.id)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "watchers": watchers })))
}

/// `GET /api/v1/projects/{key}/issues.csv?…`: as the list's filters and OQL find them.
pub async fn export(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<IssueQuery>,
) -> ApiResult {
    let (key, user, query) = (path.into_inner(), caller.user.clone(), query.into_inner());
    let body = db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Action::ViewProject(p))?;
        let workflow = Workflow::load(conn, project.id)?;
        let filter = IssueFilter::parse(conn, &query, user.id, &workflow)?;
        let issues = issue_list::all_matching(conn, project.id, &filter, user.id, EXPORT_MAX)?.ok_or_else(|| {
            AppError::invalid("oql", format!("More than {EXPORT_MAX} issues match; narrow the query."))
        })?;
        csv_io::export(conn, &project, &issues)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body))
}

/// `POST /api/v1/projects/{key}/import?dry_run=&skip_bad_rows=` with a CSV body: columns are
/// mapped by their header names (the export's names round-trip); unknown ones are ignored and
/// listed. 200 with a result per row, or 422 with them when bad rows stopped the import.
pub async fn import(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<ImportOptions>,
    body: web::Bytes,
) -> ApiResult {
    let parsed = csv_io::parse(&body)?;
    let (key, user, actor, options) =
        (path.into_inner(), caller.user.clone(), caller.actor.clone(), query.into_inner());
    let (report, ignored) = db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Action::CreateIssue(p))?;
        let catalogue = Catalogue::load(conn, project.id)?;
        let mapping: Vec<Target> = parsed.headers.iter().map(|h| Target::guess(h, &catalogue)).collect();
        let ignored: Vec<String> = parsed
            .headers
            .iter()
            .zip(&mapping)
            .filter(|(_, t)| **t == Target::Ignore)
            .map(|(h, _)| h.clone())
            .collect();
        let report = csv_io::import(conn, &actor, &project, user.id, (&parsed, &mapping), options)?;
        Ok((report, ignored))
    })
    .await?;
    let stopped = report.failed > 0 && !options.skip_bad_rows && !options.dry_run;
    let body = json!({ "report": report, "ignored_columns": ignored });
    Ok(if stopped { HttpResponse::UnprocessableEntity().json(body) } else { HttpResponse::Ok().json(body) })
}
