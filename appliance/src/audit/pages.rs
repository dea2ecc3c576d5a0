//! The audit log for auditors and administrators: `/admin/audit` (filters, pages, export) and
//! `GET /api/v1/audit`, `GET /api/v1/audit/export`; and one project's audit trail, for whoever
//! holds its `view_audit` permission: `/projects/{key}/audit` and `GET /api/v1/projects/{key}/audit`.

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Serialize;
use utoipa::ToSchema;

use super::log::{self, AuditEntry, AuditQuery, PAGE};
use crate::db;
use crate::errors::AppError;
use crate::identity::permissions::{authorize, Action};
use crate::identity::users::User;
use crate::web::errors::{ApiError, PageError};
use crate::web::extract::{ApiCaller, SignedIn};
use crate::web::openapi::ProjectPath;
use crate::web::pages::{render_with_status, status_for, url_encode, Nav};
use crate::web::AppState;
use crate::work::projects::{self, Project};

/// The project a project's audit trail is about, once `user` may read that trail.
async fn audited_project(state: &AppState, user: &User, key: String) -> Result<Project, AppError> {
    let project = db::run(&state.pool, move |conn| projects::find_by_key(conn, &key)).await?;
    authorize(user, Action::ViewProjectAudit(&project))?;
    Ok(project)
}

/// Whose log is read: the whole installation's, or one project's trail.
enum Log {
    Installation,
    Project(Project),
}

impl Log {
    async fn of(state: &AppState, user: &User, project_key: Option<String>) -> Result<Log, AppError> {
        match project_key {
            None => {
                authorize(user, Action::ViewAuditLog)?;
                Ok(Log::Installation)
            }
            Some(key) => Ok(Log::Project(audited_project(state, user, key).await?)),
        }
    }

    fn narrow(&self, mut query: AuditQuery) -> AuditQuery {
        query.project = match self {
            Log::Installation => None,
            Log::Project(project) => Some(project.id),
        };
        query
    }
}

async fn rows(state: &AppState, log: &Log, query: AuditQuery) -> Result<(Vec<AuditEntry>, Option<String>), AppError> {
    let query = log.narrow(query);
    let found = db::run(&state.pool, move |conn| log::find(conn, &query, PAGE + 1)).await?;
    Ok(next_page(found))
}

/// A page of rows and the cursor after it, from one more row than a page.
fn next_page(mut found: Vec<AuditEntry>) -> (Vec<AuditEntry>, Option<String>) {
    let more = found.len() as i64 > PAGE;
    found.truncate(PAGE as usize);
    let cursor = more.then(|| found.last().map(|row| row.id.to_string())).flatten();
    (found, cursor)
}

async fn exported(state: &AppState, log: &Log, query: AuditQuery) -> Result<HttpResponse, AppError> {
    let query = log.narrow(query);
    let (body, content_type) = db::run(&state.pool, move |conn| log::export(conn, &query)).await?;
    let name = if content_type.starts_with("text/csv") { "audit-log.csv" } else { "audit-log.json" };
    Ok(HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{name}\"")))
        .body(body))
}

#[derive(Template)]
#[template(path = "admin/audit.html")]
struct AuditPage {
    nav: Nav,
    /// The project whose trail this is; `None` for the whole log.
    project: Option<Project>,
    query: AuditQuery,
    entries: Vec<AuditEntry>,
    next: Option<String>,
    error: Option<AppError>,
}

impl AuditPage {
    /// Where this page lives, for its form, export links and pager.
    fn base(&self) -> String {
        match &self.project {
            None => "/admin/audit".to_owned(),
            Some(project) => format!("/projects/{}/audit", project.key),
        }
    }

    fn value<'a>(&self, value: &'a Option<String>) -> &'a str {
        value.as_deref().unwrap_or("")
    }

    /// The filters as a query string, for export links and the next page.
    fn filters(&self) -> String {
        let q = &self.query;
        [
            ("actor", &q.actor),
            ("action", &q.action),
            ("object", &q.object),
            ("from", &q.from),
            ("to", &q.to),
            ("ip", &q.ip),
        ]
        .iter()
        .filter_map(|(name, value)| {
            value.as_deref().filter(|v| !v.trim().is_empty()).map(|v| format!("{name}={}", url_encode(v.trim())))
        })
        .collect::<Vec<_>>()
        .join("&")
    }

    fn json(value: &Option<serde_json::Value>) -> String {
        value.as_ref().map(|v| v.to_string()).unwrap_or_default()
    }
}

async fn log_page(
    signed_in: &SignedIn,
    state: &AppState,
    log: Log,
    query: AuditQuery,
) -> Result<HttpResponse, PageError> {
    let (entries, next, error) = match rows(state, &log, query.clone()).await {
        Ok((entries, next)) => (entries, next, None),
        Err(error @ AppError::Invalid { .. }) => (Vec::new(), None, Some(error)),
        Err(other) => return Err(other.into()),
    };
    let (project, section) = match log {
        Log::Installation => (None, "admin"),
        Log::Project(project) => (Some(project), "projects"),
    };
    let page = AuditPage { nav: Nav::for_user(signed_in, section), project, query, entries, next, error };
    Ok(render_with_status(&page, status_for(page.error.as_ref()))?)
}

/// `GET /admin/audit`.
pub async fn page(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, PageError> {
    let log = Log::of(&state, signed_in.user(), None).await?;
    log_page(&signed_in, &state, log, query.into_inner()).await
}

/// `GET /projects/{key}/audit`: the project's trail, for who holds its `view_audit`.
pub async fn project_page(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, PageError> {
    let log = Log::of(&state, signed_in.user(), Some(path.into_inner())).await?;
    log_page(&signed_in, &state, log, query.into_inner()).await
}

/// `GET /admin/audit/export?format=csv|json&…`.
pub async fn page_export(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, PageError> {
    let log = Log::of(&state, signed_in.user(), None).await?;
    Ok(exported(&state, &log, query.into_inner()).await?)
}

/// `GET /projects/{key}/audit/export?format=csv|json&…`.
pub async fn project_page_export(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, PageError> {
    let log = Log::of(&state, signed_in.user(), Some(path.into_inner())).await?;
    Ok(exported(&state, &log, query.into_inner()).await?)
}

#[derive(Serialize, ToSchema)]
pub struct AuditPageBody {
    entries: Vec<AuditEntry>,
    /// Pass back as `cursor` for older rows; null on the last page.
    next_cursor: Option<String>,
}

/// The audit log, newest first, 100 rows a page (auditors and administrators).
#[utoipa::path(get, path = "/api/v1/audit", tag = "administration", params(AuditQuery),
    responses((status = 200, body = AuditPageBody)))]
pub async fn api_list(
    caller: ApiCaller,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let log = Log::of(&state, &caller.user, None).await?;
    let (entries, next_cursor) = rows(&state, &log, query.into_inner()).await?;
    Ok(HttpResponse::Ok().json(AuditPageBody { entries, next_cursor }))
}

/// One project's audit trail: its issues (deleted ones too), comments, sprints, pages, hooks,
/// rules and settings, newest first, 100 rows a page (who holds the project's `view_audit`).
#[utoipa::path(get, path = "/api/v1/projects/{key}/audit", tag = "projects", params(ProjectPath, AuditQuery),
    responses((status = 200, body = AuditPageBody)))]
pub async fn api_project_list(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<ProjectPath>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let log = Log::of(&state, &caller.user, Some(path.into_inner().key)).await?;
    let (entries, next_cursor) = rows(&state, &log, query.into_inner()).await?;
    Ok(HttpResponse::Ok().json(AuditPageBody { entries, next_cursor }))
}

/// Every matching row of the audit log (up to 100,000), as CSV or JSON (auditors and administrators).
#[utoipa::path(get, path = "/api/v1/audit/export", tag = "administration", params(AuditQuery),
    responses((status = 200, description = "The rows", content(
        (Vec<AuditEntry> = "application/json"),
        (String = "text/csv")
    ))))]
pub async fn api_export(
    caller: ApiCaller,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, ApiError> {
    let log = Log::of(&state, &caller.user, None).await?;
    Ok(exported(&state, &log, query.into_inner()).await?)
}
