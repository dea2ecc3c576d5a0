//! CSV import and export pages: upload a file, map its columns to fields, preview (a dry run
//! with a result per row), then import; and download the list's issues as CSV.

use actix_multipart::Multipart;
use actix_web::http::header;
use actix_web::{web, HttpResponse};
use askama::Template;
use futures_util::StreamExt;

use super::csv_io::{self, ImportOptions, ImportReport, Parsed, Target};
use super::fields::Catalogue;
use super::issue_list::{self, IssueFilter, IssueQuery};
use super::projects::{self, Project};
use super::workflows::Workflow;
use crate::db;
use crate::errors::AppError;
use crate::identity::permissions::{authorize, Action};
use crate::identity::secrets;
use crate::web::errors::PageError;
use crate::web::extract::{CsrfForm, SignedIn, CSRF_REFUSAL};
use crate::web::pages::{render_with_status, status_for, Nav};
use crate::web::AppState;

/// The largest file accepted, the same as any request body.
const FILE_MAX: usize = 2 * 1024 * 1024;
/// Issues one export holds at most.
pub const EXPORT_MAX: i64 = 10_000;

#[derive(Template)]
#[template(path = "projects/import.html")]
struct ImportPage {
    nav: Nav,
    project: Project,
    /// After an upload: the file (kept in the form), its columns and their targets.
    file: Option<(String, Parsed)>,
    mapping: Vec<String>,
    choices: Vec<(String, String)>,
    skip_bad_rows: bool,
    report: Option<ImportReport>,
    error: Option<AppError>,
}

impl ImportPage {
    fn sample(&self) -> Vec<&Vec<String>> {
        self.file
            .as_ref()
            .map(|(_, parsed)| parsed.rows.iter().take(3).map(|(_, row)| row).collect())
            .unwrap_or_default()
    }

    fn cell<'a>(&self, row: &'a [String], column: &usize) -> &'a str {
        row.get(*column).map_or("", String::as_str)
    }

    /// After a real import the mapping form is done with.
    fn imported(&self) -> bool {
        self.report.as_ref().is_some_and(|r| r.written)
    }

    fn mapped_to<'a>(&'a self, index: &usize) -> &'a str {
        self.mapping.get(*index).map_or("", String::as_str)
    }
}

async fn project_to_import(
    state: &AppState,
    signed_in: &SignedIn,
    key: String,
) -> Result<(Project, Catalogue), AppError> {
    let user = signed_in.user().clone();
    db::run(&state.pool, move |conn| {
        let project = projects::find_by_key(conn, &key)?;
        authorize(&user, Action::CreateIssue(&project))?;
        let catalogue = Catalogue::load(conn, project.id)?;
        Ok((project, catalogue))
    })
    .await
}

/// Where the import stands: the file and its mapping once uploaded, and the last run.
#[derive(Default)]
struct ImportState {
    file: Option<(String, Parsed)>,
    mapping: Vec<String>,
    skip_bad_rows: bool,
    report: Option<ImportReport>,
    error: Option<AppError>,
}

fn page(
    signed_in: &SignedIn,
    project: Project,
    catalogue: &Catalogue,
    state: ImportState,
) -> Result<HttpResponse, PageError> {
    let ImportState { file, mapping, skip_bad_rows, report, error } = state;
    let status = status_for(error.as_ref());
    let choices = Target::choices(catalogue);
    let nav = Nav::for_user(signed_in, "projects");
    let page = ImportPage { nav, project, file, mapping, choices, skip_bad_rows, report, error };
    Ok(render_with_status(&page, status)?)
}

pub async fn show(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let (project, catalogue) = project_to_import(&state, &signed_in, path.into_inner()).await?;
    page(&signed_in, project, &catalogue, ImportState::default())
}

/// Reads the upload form: its CSRF token and the file, within `FILE_MAX`.
async fn read_upload(mut multipart: Multipart) -> Result<(String, Vec<u8>), AppError> {
    let (mut token, mut file) = (String::new(), Vec::new());
    while let Some(field) = multipart.next().await {
        let mut field =
            field.map_err(|e| AppError::bad_request(None, format!("The upload could not be read: {e}.")))?;
        let name = field.content_disposition().and_then(|d| d.get_name()).unwrap_or("").to_owned();
        let mut bytes = Vec::new();
        while let Some(chunk) = field.next().await {
            let chunk =
                chunk.map_err(|e| AppError::bad_request(None, format!("The upload could not be read: {e}.")))?;
            if bytes.len() + chunk.len() > FILE_MAX {
                return Err(AppError::TooLarge(format!(
                    "The file is larger than {} KiB; nothing was imported. Split it and import the parts.",
                    FILE_MAX / 1024
                )));
            }
            bytes.extend_from_slice(&chunk);
        }
        match name.as_str() {
            "csrf_token" => token = String::from_utf8_lossy(&bytes).into_owned(),
            "file" => file = bytes,
            _ => {}
        }
    }
    Ok((token, file))
}

/// Step one: the uploaded file, parsed, with each column's likely field.
pub async fn upload(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<String>,
    multipart: Multipart,
) -> Result<HttpResponse, PageError> {
    let (token, bytes) = read_upload(multipart).await?;
    if !secrets::same(&token, &signed_in.session.csrf_token) {
        return Err(AppError::forbidden(CSRF_REFUSAL).into());
    }
    let (project, catalogue) = project_to_import(&state, &signed_in, path.into_inner()).await?;
    match csv_io::parse(&bytes) {
        Ok(parsed) => {
            let mapping = parsed.headers.iter().map(|h| Target::guess(h, &catalogue).value()).collect();
            let text = String::from_utf8_lossy(bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&bytes)).into_owned();
            page(
                &signed_in,
                project,
                &catalogue,
                ImportState { file: Some((text, parsed)), mapping, ..ImportState::default() },
            )
        }
        Err(error) => {
            page(&signed_in, project, &catalogue, ImportState { error: Some(error), ..ImportState::default() })
        }
    }
}

/// Step two: a dry run (`action` = preview) or the import, with a result per row.
pub async fn run(
    form: CsrfForm<Vec<(String, String)>>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    let (project, catalogue) = project_to_import(&state, &signed_in, path.into_inner()).await?;
    let value = |name: &str| data.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or_default();
    let text = value("csv");
    let skip_bad_rows = value("skip_bad_rows") == "on";
    let dry_run = value("action") != "import";
    let parsed = match csv_io::parse(text.as_bytes()) {
        Ok(parsed) => parsed,
        Err(error) => {
            return page(
                &signed_in,
                project,
                &catalogue,
                ImportState { skip_bad_rows, error: Some(error), ..ImportState::default() },
            )
        }
    };
    let mapping: Vec<String> = (0..parsed.headers.len()).map(|i| value(&format!("map_{i}"))).collect();
    let targets: Result<Vec<Target>, AppError> = mapping.iter().map(|m| Target::parse(m)).collect();
    let (actor, importer, target_project, for_db) =
        (signed_in.actor.clone(), signed_in.user().clone(), project.clone(), parsed.clone());
    let outcome = match targets {
        Ok(targets) => {
            db::run(&state.pool, move |conn| {
                let options = ImportOptions { dry_run, skip_bad_rows };
                csv_io::import(conn, &actor, &target_project, &importer, (&for_db, &targets), options)
            })
            .await
        }
        Err(error) => Err(error),
    };
    let (report, error) = match outcome {
        Ok(report) if report.failed > 0 && !skip_bad_rows && !dry_run => {
            let error = AppError::invalid(
                "file",
                format!(
                    "{} row(s) cannot be imported, so nothing was. Fix them, or tick \"skip bad rows\".",
                    report.failed
                ),
            );
            (Some(report), Some(error))
        }
        Ok(report) => (Some(report), None),
        Err(error @ AppError::Invalid { .. }) => (None, Some(error)),
        Err(other) => return Err(other.into()),
    };
    page(
        &signed_in,
        project,
        &catalogue,
        ImportState { file: Some((text, parsed)), mapping, skip_bad_rows, report, error },
    )
}

/// `GET /projects/{key}/issues.csv?…`: the list's issues (same filters and OQL) as CSV.
pub async fn export(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<String>,
    query: web::Query<IssueQuery>,
) -> Result<HttpResponse, PageError> {
    let (key, user, query) = (path.into_inner(), signed_in.user().clone(), query.into_inner());
    let (project, body) = db::run(&state.pool, move |conn| {
        let project = projects::find_by_key(conn, &key)?;
        authorize(&user, Action::ViewProject(&project))?;
        let workflow = Workflow::load(conn, project.id)?;
        let filter = IssueFilter::parse(conn, &query, user.id, &workflow)?;
        let issues = issue_list::all_matching(conn, project.id, &filter, user.id, EXPORT_MAX)?.ok_or_else(|| {
            AppError::invalid(
                "oql",
                format!("More than {EXPORT_MAX} issues match; narrow the query to export them in parts."),
            )
        })?;
        let body = csv_io::export(conn, &project, &issues)?;
        Ok((project, body))
    })
    .await?;
    Ok(HttpResponse::Ok()
        .content_type("text/csv; charset=utf-8")
        .insert_header((header::CONTENT_DISPOSITION, format!("attachment; filename=\"{}-issues.csv\"", project.key)))
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
        .body(body))
}
