//! The audit log for auditors and administrators: `/admin/audit` (filters, pages, export) and
//! `GET /api/v1/audit`, `GET /api/v1/audit/export`.

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
use crate::web::pages::{render_with_status, status_for, url_encode, Nav};
use crate::web::AppState;

async fn rows(state: &AppState, user: &User, query: AuditQuery) -> Result<(Vec<AuditEntry>, Option<String>), AppError> {
    authorize(user, Action::ViewAuditLog)?;
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

async fn exported(state: &AppState, user: &User, query: AuditQuery) -> Result<HttpResponse, AppError> {
    authorize(user, Action::ViewAuditLog)?;
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
    query: AuditQuery,
    entries: Vec<AuditEntry>,
    next: Option<String>,
    error: Option<AppError>,
}

impl AuditPage {
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

/// `GET /admin/audit`.
pub async fn page(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, PageError> {
    authorize(signed_in.user(), Action::ViewAuditLog)?;
    let query = query.into_inner();
    let (entries, next, error) = match rows(&state, signed_in.user(), query.clone()).await {
        Ok((entries, next)) => (entries, next, None),
        Err(error @ AppError::Invalid { .. }) => (Vec::new(), None, Some(error)),
        Err(other) => return Err(other.into()),
    };
    let status = status_for(error.as_ref());
    Ok(render_with_status(&AuditPage { nav: Nav::for_user(&signed_in, "admin"), query, entries, next, error }, status)?)
}

/// `GET /admin/audit/export?format=csv|json&…`.
pub async fn page_export(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    query: web::Query<AuditQuery>,
) -> Result<HttpResponse, PageError> {
    Ok(exported(&state, signed_in.user(), query.into_inner()).await?)
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
    let (entries, next_cursor) = rows(&state, &caller.user, query.into_inner()).await?;
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
    Ok(exported(&state, &caller.user, query.into_inner()).await?)
}
