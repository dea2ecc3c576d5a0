//! REST API v1 for projects, issues and comments. Callers authenticate with a personal API
//! token; errors are `{ "error": { "code", "message", "field"? } }`.

use std::collections::BTreeMap;

use actix_web::http::header;
use actix_web::{web, HttpRequest, HttpResponse};
use diesel::Connection;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::comments::{self, CommentWithAuthor};
use super::described::{self, when, Described};
use super::history::{self, Stretch};
use super::issue_fields::{parse_date, DetailChanges, Details};
use super::issue_list::{self, whole_number, IssueFilter, IssueQuery, ListedIssue};
use super::issues::{self, Issue, IssueChanges, NewIssue};
use super::kinds::{IssueType, Priority, StatusCategory};
use super::links::{self, LinkView};
use super::oql;
use super::projects::{self, NewProject, Project};
use super::time_tracking::{self, parse_duration};
use super::workflows::Workflow;
use crate::db;
use crate::identity::permissions::{authorize, Action};
use crate::identity::users::{User, UserRef};
use crate::web::errors::{ApiError, ErrorBody};
use crate::web::etag::{self, IfMatch};
use crate::web::extract::{explicit_null, ApiCaller, ApiJson};
use crate::web::openapi::{IfMatchHeader, IssuePath, ProjectIssuePath, ProjectPath};
use crate::web::AppState;

type ApiResult = Result<HttpResponse, ApiError>;

/// An issue as the API shows it.
#[derive(Serialize, utoipa::ToSchema)]
pub struct IssueBody {
    key: String,
    project: String,
    #[serde(flatten)]
    issue: Issue,
    status: String,
    status_category: StatusCategory,
    /// Where the workflow lets the issue move next.
    transitions: Vec<String>,
    assignee: Option<UserRef>,
    reporter: UserRef,
    /// Who hears about the issue's changes, by display name.
    watchers: Vec<UserRef>,
    #[serde(flatten)]
    details: Details,
    time_logged_minutes: i64,
    links: Vec<LinkView>,
}

/// The API's answer for `issue`, whose workflow and surroundings are at hand.
fn body_of(
    conn: &mut diesel::PgConnection,
    reader: &User,
    project: &Project,
    issue: Issue,
    workflow: &Workflow,
    described: Described,
) -> Result<IssueBody, crate::errors::AppError> {
    let Described { details, assignee, reporter, watchers, filled } = described;
    let status = workflow.status(issue.status_id)?;
    let logs = when(filled.work_logs, || time_tracking::logs_of(conn, issue.id))?;
    Ok(IssueBody {
        details,
        time_logged_minutes: logs.iter().map(|(log, _)| i64::from(log.minutes)).sum(),
        links: when(filled.links, || links::links_of(conn, reader, issue.id))?,
        key: format!("{}-{}", project.key, issue.number),
        project: project.key.clone(),
        status: status.name.clone(),
        status_category: status.category,
        transitions: workflow.targets(issue.status_id).map(|s| s.name.clone()).collect(),
        issue,
        assignee,
        reporter,
        watchers,
    })
}

/// The API's answer for an issue as it is now.
fn existing_issue_body(
    conn: &mut diesel::PgConnection,
    reader: &User,
    project: &Project,
    issue: Issue,
) -> Result<IssueBody, crate::errors::AppError> {
    let workflow = Workflow::of(conn, project)?;
    let described = described::describe(conn, &issue)?;
    body_of(conn, reader, project, issue, &workflow, described)
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct ProjectList {
    projects: Vec<Project>,
}

/// Every project the caller can see.
#[utoipa::path(get, path = "/api/v1/projects", tag = "projects", responses((status = 200, body = ProjectList)))]
pub async fn list_projects(caller: ApiCaller, state: web::Data<AppState>) -> ApiResult {
    authorize(&caller.user, Action::ListProjects)?;
    let reader = caller.user.clone();
    let projects = db::run(&state.pool, move |conn| Ok(projects::visible(conn, &reader)?)).await?;
    Ok(HttpResponse::Ok().json(ProjectList { projects }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProjectInput {
    #[schema(pattern = "^[A-Z][A-Z0-9]{1,9}$", example = "OPS")]
    key: String,
    #[schema(min_length = 1, max_length = 80)]
    name: String,
    #[serde(default)]
    #[schema(max_length = 10000)]
    description: String,
}

/// Creates a project led by the caller (administrators only).
#[utoipa::path(post, path = "/api/v1/projects", tag = "projects", request_body = ProjectInput,
    responses((status = 201, body = Project)))]
pub async fn create_project(caller: ApiCaller, state: web::Data<AppState>, body: ApiJson<ProjectInput>) -> ApiResult {
    authorize(&caller.user, Action::CreateProject)?;
    let ApiJson(input) = body;
    let (actor, lead) = (caller.actor.clone(), caller.user.id);
    let new = NewProject { key: input.key, name: input.name, description: input.description };
    let project = db::run(&state.pool, move |conn| projects::create(conn, &actor, lead, new)).await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/projects/{}", project.key)))
        .json(project))
}

/// One project.
#[utoipa::path(get, path = "/api/v1/projects/{key}", tag = "projects", params(ProjectPath),
    responses((status = 200, body = Project, headers(("ETag" = String, description = "The project's tag"))),
        (status = 304, description = "Unchanged since the `If-None-Match` tag")))]
pub async fn get_project(
    req: HttpRequest,
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<ProjectPath>,
) -> ApiResult {
    let key = path.into_inner().key;
    let project = db::run(&state.pool, move |conn| projects::find_by_key(conn, &key)).await?;
    authorize(&caller.user, Action::ViewProject(&project))?;
    Ok(etag::answer(&req, &project))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct IssueList {
    issues: Vec<ListedIssue>,
    page: i64,
    per_page: i64,
    has_more: bool,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// A project's issues, filtered by OQL or the simple filters, a page at a time.
#[utoipa::path(get, path = "/api/v1/projects/{key}/issues", tag = "issues", params(ProjectPath, IssueQuery),
    responses((status = 200, body = IssueList)))]
pub async fn list_issues(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<ProjectPath>,
    query: web::Query<IssueQuery>,
) -> ApiResult {
    let (key, query, user) = (path.into_inner().key, query.into_inner(), caller.user.clone());
    let (filter, page) = db::run(&state.pool, move |conn| {
        let project = projects::find_by_key(conn, &key)?;
        authorize(&user, Action::ViewProject(&project))?;
        let workflow = Workflow::of(conn, &project)?;
        let filter = IssueFilter::parse(conn, &query, user.id, &workflow)?;
        let page = issue_list::list(conn, project.id, &filter, user.id)?;
        Ok((filter, page))
    })
    .await?;
    Ok(HttpResponse::Ok().json(IssueList {
        issues: page.issues,
        page: filter.page,
        per_page: filter.per_page,
        has_more: page.has_more,
        next_cursor: page.next_cursor,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewIssueInput {
    #[schema(min_length = 1, max_length = 255, pattern = "\\S")]
    title: String,
    #[serde(default)]
    issue_type: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    priority: Option<String>,
    #[serde(default)]
    #[schema(max_length = 100000)]
    description: String,
    #[serde(default)]
    assignee: Option<String>,
    #[serde(default)]
    parent: Option<String>,
    #[serde(default)]
    due_date: Option<String>,
    #[serde(default)]
    #[schema(minimum = 0, maximum = 1000)]
    story_points: Option<f64>,
    /// A duration like `2d 4h`.
    #[serde(default)]
    estimate: Option<String>,
    #[serde(default)]
    fix_version: Option<String>,
    #[serde(default)]
    labels: Vec<String>,
    #[serde(default)]
    components: Vec<String>,
    /// Custom field name → a string, number, list of choices, or null.
    #[serde(default)]
    custom: BTreeMap<String, Value>,
}

/// Creates an issue: type defaults to task, status to the workflow's first, priority to
/// medium.
#[utoipa::path(post, path = "/api/v1/projects/{key}/issues", tag = "issues", params(ProjectPath),
    request_body = NewIssueInput, responses((status = 201, body = IssueBody)))]
pub async fn create_issue(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<ProjectPath>,
    body: ApiJson<NewIssueInput>,
) -> ApiResult {
    let ApiJson(input) = body;
    let new = NewIssue {
        issue_type: input.issue_type.as_deref().map_or(Ok(IssueType::Task), IssueType::parse)?,
        status: input.status,
        priority: input.priority.as_deref().map_or(Ok(Priority::Medium), Priority::parse)?,
        title: input.title,
        description: input.description,
        assignee: input.assignee,
        details: DetailChanges {
            parent: input.parent.map(Some),
            due_date: input.due_date.as_deref().map(|d| parse_date("due_date", d)).transpose()?,
            story_points: Some(input.story_points),
            estimate_minutes: input.estimate.as_deref().map(|e| parse_duration("estimate", e).map(Some)).transpose()?,
            fix_version: input.fix_version.map(Some),
            labels: Some(input.labels),
            components: Some(input.components),
            custom: custom_inputs(input.custom),
        },
    };
    let (key, user, actor) = (path.into_inner().key, caller.user.clone(), caller.actor.clone());
    let created = db::run(&state.pool, move |conn| {
        let project = projects::find_by_key(conn, &key)?;
        authorize(&user, Action::CreateIssue(&project))?;
        let created = issues::create(conn, &actor, &project, user.id, new)?;
        let issues::Created { issue, workflow, described } = created;
        body_of(conn, &user, &project, issue, &workflow, described)
    })
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((header::LOCATION, format!("/api/v1/issues/{}", created.key)))
        .json(created))
}

async fn issue_response(
    req: HttpRequest,
    caller: ApiCaller,
    state: &AppState,
    project_key: Option<String>,
    key: String,
) -> ApiResult {
    let user = caller.user.clone();
    let body = db::run(&state.pool, move |conn| {
        let (project, issue) = match &project_key {
            Some(project_key) => issues::find_in_project(conn, project_key, &key)?,
            None => issues::find_by_key(conn, &key)?,
        };
        issues::authorize_on(&user, &project, &issue, |p, _| Action::ViewProject(p))?;
        existing_issue_body(conn, &user, &project, issue)
    })
    .await?;
    Ok(etag::answer(&req, &body))
}

/// One issue, with its fields, links and where it can move next. Its `ETag` goes in
/// `If-Match` when changing it.
#[utoipa::path(get, path = "/api/v1/issues/{issue}", tag = "issues", params(IssuePath),
    responses((status = 200, body = IssueBody, headers(("ETag" = String, description = "The issue's tag"))),
        (status = 304, description = "Unchanged since the `If-None-Match` tag")))]
pub async fn get_issue(
    req: HttpRequest,
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<IssuePath>,
) -> ApiResult {
    issue_response(req, caller, &state, None, path.into_inner().issue).await
}

/// One issue of a project: 404 when the issue is in another project.
#[utoipa::path(get, path = "/api/v1/projects/{key}/issues/{issue}", tag = "issues", params(ProjectIssuePath),
    responses((status = 200, body = IssueBody, headers(("ETag" = String, description = "The issue's tag"))),
        (status = 304, description = "Unchanged since the `If-None-Match` tag")))]
pub async fn get_project_issue(
    req: HttpRequest,
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<ProjectIssuePath>,
) -> ApiResult {
    let ProjectIssuePath { key: project_key, issue: key } = path.into_inner();
    issue_response(req, caller, &state, Some(project_key), key).await
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IssueChangesInput {
    #[serde(default)]
    #[schema(min_length = 1, max_length = 255, pattern = "\\S")]
    title: Option<String>,
    #[serde(default)]
    issue_type: Option<String>,
    #[serde(default)]
    status: Option<String>,
    #[serde(default)]
    priority: Option<String>,
    #[serde(default)]
    #[schema(max_length = 100000)]
    description: Option<String>,
    /// A user name, or `null` to unassign.
    #[serde(default, deserialize_with = "explicit_null")]
    assignee: Option<Option<String>>,
    #[serde(default, deserialize_with = "explicit_null")]
    parent: Option<Option<String>>,
    #[serde(default, deserialize_with = "explicit_null")]
    due_date: Option<Option<String>>,
    #[serde(default, deserialize_with = "explicit_null")]
    #[schema(minimum = 0, maximum = 1000)]
    story_points: Option<Option<f64>>,
    #[serde(default, deserialize_with = "explicit_null")]
    estimate: Option<Option<String>>,
    #[serde(default, deserialize_with = "explicit_null")]
    fix_version: Option<Option<String>>,
    #[serde(default)]
    labels: Option<Vec<String>>,
    #[serde(default)]
    components: Option<Vec<String>>,
    #[serde(default)]
    custom: BTreeMap<String, Value>,
}

/// Custom values as JSON clients send them, as the text inputs the field checks.
fn custom_inputs(custom: BTreeMap<String, Value>) -> Vec<(String, Vec<String>)> {
    let text = |value: &Value| match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    custom
        .into_iter()
        .map(|(name, value)| {
            let inputs = match &value {
                Value::Null => Vec::new(),
                Value::Array(items) => items.iter().map(text).collect(),
                other => vec![text(other)],
            };
            (name, inputs)
        })
        .collect()
}

impl IssueChangesInput {
    /// The changes, with the values parsed; a value that does not parse names its field.
    pub fn into_changes(self) -> Result<IssueChanges, crate::errors::AppError> {
        Ok(IssueChanges {
            issue_type: self.issue_type.as_deref().map(IssueType::parse).transpose()?,
            status: self.status,
            priority: self.priority.as_deref().map(Priority::parse).transpose()?,
            title: self.title,
            description: self.description,
            assignee: self.assignee,
            details: DetailChanges {
                parent: self.parent,
                due_date: self
                    .due_date
                    .map(|d| d.as_deref().map(|d| parse_date("due_date", d)).transpose().map(Option::flatten))
                    .transpose()?,
                story_points: self.story_points,
                estimate_minutes: self
                    .estimate
                    .map(|e| e.as_deref().map(|e| parse_duration("estimate", e)).transpose())
                    .transpose()?,
                fix_version: self.fix_version,
                labels: self.labels,
                components: self.components,
                custom: custom_inputs(self.custom),
            },
        })
    }
}

/// Changes the fields given; `"assignee": null` unassigns; a new `status` must be a transition
/// the workflow allows. With `If-Match`, only if the issue is still as read.
#[utoipa::path(patch, path = "/api/v1/issues/{issue}", tag = "issues", params(IssuePath, IfMatchHeader),
    request_body = IssueChangesInput,
    responses((status = 200, body = IssueBody, headers(("ETag" = String, description = "The issue's new tag"))),
        (status = 412, description = "The issue changed since it was read", body = ErrorBody)))]
pub async fn update_issue(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<IssuePath>,
    if_match: IfMatch,
    body: ApiJson<IssueChangesInput>,
) -> ApiResult {
    let changes = body.0.into_changes()?;
    let (key, user, actor) = (path.into_inner().issue, caller.user.clone(), caller.actor.clone());
    let updated = db::run(&state.pool, move |conn| {
        conn.transaction(|conn| {
            let (project, issue) = issues::find_by_key(conn, &key)?;
            issues::authorize_on(&user, &project, &issue, |p, i| Action::EditIssue(p, i))?;
            if changes.status.is_some() {
                authorize(&user, Action::TransitionIssue(&project))?;
            }
            let before = if_match.before(|| {
                issues::lock(conn, issue.id)?;
                let (_, current) = issues::find_by_key(conn, &key)?;
                existing_issue_body(conn, &user, &project, current)
            })?;
            let issue = issues::update(conn, &actor, &project, issue.id, changes)?;
            if_match.check(before)?;
            existing_issue_body(conn, &user, &project, issue)
        })
    })
    .await?;
    Ok(HttpResponse::Ok().insert_header((header::ETAG, etag::tag_of(&updated))).json(updated))
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct IssueSearchQuery {
    /// An OQL query (see /help/oql).
    oql: Option<String>,
    #[param(value_type = Option<i64>, minimum = 1)]
    page: Option<String>,
    #[param(value_type = Option<i64>, minimum = 1, maximum = 200)]
    per_page: Option<String>,
    /// The `next_cursor` of the previous page (instead of `page`).
    cursor: Option<String>,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct IssueSearchResult {
    oql: String,
    issues: Vec<ListedIssue>,
    page: i64,
    per_page: i64,
    has_more: bool,
    /// Pass as `cursor` for the next page; null on the last page.
    next_cursor: Option<String>,
}

/// Issues matching an OQL query in every project the caller can see (full-text search over
/// everything is `/api/v1/search`).
#[utoipa::path(get, path = "/api/v1/issues", tag = "issues", params(IssueSearchQuery),
    responses((status = 200, body = IssueSearchResult)))]
pub async fn find_issues(
    caller: ApiCaller,
    state: web::Data<AppState>,
    query: web::Query<IssueSearchQuery>,
) -> ApiResult {
    authorize(&caller.user, Action::ListProjects)?;
    let IssueSearchQuery { oql: text, page, per_page, cursor } = query.into_inner();
    let parsed = oql::parse(text.as_deref().unwrap_or(""))
        .map_err(|e| crate::errors::AppError::invalid("oql", e.to_string()))?;
    let paging = IssueQuery { page, per_page, cursor, ..IssueQuery::default() };
    let reader = caller.user.clone();
    let (page, per_page, found) = db::run(&state.pool, move |conn| {
        let (page, per_page) = issue_list::paging(&paging)?;
        Ok((page, per_page, issue_list::search(conn, &parsed, &reader, (page, per_page), paging.cursor.as_deref())?))
    })
    .await?;
    Ok(HttpResponse::Ok().json(IssueSearchResult {
        oql: text.unwrap_or_default(),
        issues: found.issues,
        page,
        per_page,
        has_more: found.has_more,
        next_cursor: found.next_cursor,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct HistoryList {
    history: Vec<history::HistoryEntry>,
    page: i64,
    per_page: i64,
    /// Every change the caller may see, on all pages.
    total: i64,
    has_more: bool,
}

#[derive(Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PageQuery {
    #[param(value_type = Option<i64>, minimum = 1)]
    page: Option<String>,
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    per_page: Option<String>,
}

impl PageQuery {
    /// The page asked for and its size: 1 and 100 unless given.
    fn page_and_size(&self) -> Result<(i64, i64), crate::errors::AppError> {
        let page = whole_number(&self.page, "page", 1, 1..=1_000_000)?;
        Ok((page, whole_number(&self.per_page, "per_page", 100, 1..=1000)?))
    }
}

/// The issue `key` names, if `user` may see it.
fn readable_issue(conn: &mut diesel::PgConnection, user: &User, key: &str) -> Result<Issue, crate::errors::AppError> {
    let (project, issue) = issues::find_by_key(conn, key)?;
    issues::authorize_on(user, &project, &issue, |p, _| Action::ViewProject(p))?;
    Ok(issue)
}

/// An issue's changes, oldest first, field by field, a page at a time (100 by default).
#[utoipa::path(get, path = "/api/v1/issues/{issue}/history", tag = "issues", params(IssuePath, PageQuery),
    responses((status = 200, body = HistoryList)))]
pub async fn get_history(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<IssuePath>,
    query: web::Query<PageQuery>,
) -> ApiResult {
    let (page, per_page) = query.page_and_size()?;
    let stretch = Stretch::Page { number: page, size: per_page };
    let (key, user) = (path.into_inner().issue, caller.user.clone());
    let found = db::run(&state.pool, move |conn| {
        let issue = readable_issue(conn, &user, &key)?;
        Ok(history::history_of(conn, &user, issue.id, stretch)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(HistoryList {
        has_more: page * per_page < found.total,
        history: found.entries,
        page,
        per_page,
        total: found.total,
    }))
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct CommentList {
    comments: Vec<CommentWithAuthor>,
    page: i64,
    per_page: i64,
    /// Every comment on the issue, on all pages.
    total: i64,
    has_more: bool,
}

/// An issue's comments, oldest first, a page at a time (100 by default).
#[utoipa::path(get, path = "/api/v1/issues/{issue}/comments", tag = "comments", params(IssuePath, PageQuery),
    responses((status = 200, body = CommentList)))]
pub async fn list_comments(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<IssuePath>,
    query: web::Query<PageQuery>,
) -> ApiResult {
    let (page, per_page) = query.page_and_size()?;
    let stretch = Stretch::Page { number: page, size: per_page };
    let (key, user) = (path.into_inner().issue, caller.user.clone());
    let found = db::run(&state.pool, move |conn| {
        let issue = readable_issue(conn, &user, &key)?;
        Ok(comments::comments_of(conn, issue.id, stretch)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(CommentList {
        has_more: page * per_page < found.total,
        comments: found.shown,
        page,
        per_page,
        total: found.total,
    }))
}

#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommentInput {
    /// Markdown.
    #[schema(min_length = 1, max_length = 65536, pattern = "\\S")]
    body: String,
}

/// Adds a comment (Markdown) as the caller.
#[utoipa::path(post, path = "/api/v1/issues/{issue}/comments", tag = "comments", params(IssuePath),
    request_body = CommentInput, responses((status = 201, body = CommentWithAuthor)))]
pub async fn create_comment(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<IssuePath>,
    body: ApiJson<CommentInput>,
) -> ApiResult {
    let ApiJson(input) = body;
    let (key, user, actor) = (path.into_inner().issue, caller.user.clone(), caller.actor.clone());
    let created = db::run(&state.pool, move |conn| {
        let (project, issue) = issues::find_by_key(conn, &key)?;
        issues::authorize_on(&user, &project, &issue, |p, _| Action::Comment(p))?;
        let comment = comments::create(conn, &actor, &issue, user.id, &input.body)?;
        Ok(CommentWithAuthor { comment, author: user.to_ref() })
    })
    .await?;
    Ok(HttpResponse::Created().json(created))
}
