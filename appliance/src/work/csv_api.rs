//! REST API v1 for CSV: a project's issues out (as the list's filters and OQL find them) and
//! in (columns mapped by header name, checked row by row, all or nothing unless told).

use actix_web::http::header;
use actix_web::{web, HttpResponse};
use serde::Serialize;
use utoipa::ToSchema;

use super::csv_io::{self, ImportOptions, Target};
use super::fields::Catalogue;
use super::import_pages::EXPORT_MAX;
use super::issue_list::{self, IssueFilter, IssueQuery};
use super::projects;
use super::workflows::Workflow;
use crate::db;
use crate::errors::AppError;
use crate::identity::permissions::Action;
use crate::web::errors::{ApiError, ErrorDetail};
use crate::web::extract::ApiCaller;
use crate::web::openapi::ProjectPath;
use crate::web::AppState;

type ApiResult = Result<HttpResponse, ApiError>;

/// The issues the list's filters and OQL find, as CSV (the import reads the same columns).
/// The export is not paged: `page`, `per_page` and `cursor` are checked like the list's, then
/// every matching issue is exported.
#[utoipa::path(get, path = "/api/v1/projects/{key}/issues.csv", tag = "issues", params(ProjectPath, IssueQuery),
    responses((status = 200, description = "One row per issue, with a header row", content_type = "text/csv",
        body = String)))]
pub async fn export(
    caller: ApiCaller,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<IssueQuery>,
) -> ApiResult {
    let (key, user, query) = (path.into_inner(), caller.user.clone(), query.into_inner());
    let body = db::run(&state.pool, move |conn| {
        let project = projects::find_allowed(conn, &user, &key, |p| Action::ViewProject(p))?;
        issue_list::paging(&query)?;
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

#[derive(Serialize, ToSchema)]
pub struct ImportResult {
    report: csv_io::ImportReport,
    /// Header names that map to no field.
    ignored_columns: Vec<String>,
}

/// A refused import: the error, and when bad rows stopped it, the result for each row.
#[derive(Serialize, ToSchema)]
pub struct ImportRefusal {
    error: ErrorDetail,
    #[schema(required = false)]
    report: csv_io::ImportReport,
    /// Header names that map to no field.
    #[schema(required = false)]
    ignored_columns: Vec<String>,
}

/// Imports issues from a CSV body: columns are mapped by their header names (the export's
/// names round-trip); unknown ones are ignored and listed. 200 with a result per row, or 422
/// with them when bad rows stopped the import (nothing written).
#[utoipa::path(post, path = "/api/v1/projects/{key}/import", tag = "issues", params(ProjectPath, ImportOptions),
    request_body(content = String, content_type = "text/csv"),
    responses((status = 200, body = ImportResult), (status = 422, body = ImportRefusal)))]
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
        let report = csv_io::import(conn, &actor, &project, &user, (&parsed, &mapping), options)?;
        Ok((report, ignored))
    })
    .await?;
    let stopped = report.failed > 0 && !options.skip_bad_rows && !options.dry_run;
    Ok(if stopped {
        let error = ErrorDetail::invalid("body", "Some rows cannot be imported, so nothing was imported.");
        HttpResponse::UnprocessableEntity().json(ImportRefusal { error, report, ignored_columns: ignored })
    } else {
        HttpResponse::Ok().json(ImportResult { report, ignored_columns: ignored })
    })
}
