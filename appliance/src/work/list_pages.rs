//! A project's issue list: simple filters and OQL, saved filters, and bulk edit of the
//! selected issues.

use actix_web::http::StatusCode;
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::bulk::{self, BulkChange};
use super::fields::Catalogue;
use super::issue_list::{self, IssueFilter, IssueQuery, ListedIssue};
use super::kinds::IssueType;
use super::list_columns;
use super::projects::{self, Project};
use super::saved_filters::{self, SavedFilter};
use super::sprints::{self, Sprint};
use super::workflows::{Workflow, WorkflowStatus};
use crate::db;
use crate::errors::AppError;
use crate::identity::permissions::{authorize, Action};
use crate::identity::users::{self, UserRef};
use crate::web::errors::PageError;
use crate::web::extract::{CsrfForm, SignedIn};
use crate::web::pages::{redirect, render_with_status, url_encode, Nav};
use crate::web::AppState;

/// What the list page shows after an action taken from it.
pub enum ListAction {
    /// Saving the query was refused; the name typed is kept.
    SaveRefused { name: String, error: AppError },
    /// A bulk edit's result per issue; `error` when it wrote nothing.
    Bulk { outcomes: Vec<bulk::Outcome>, error: Option<AppError> },
}

impl ListAction {
    fn error(&self) -> Option<&AppError> {
        match self {
            ListAction::SaveRefused { error, .. } => Some(error),
            ListAction::Bulk { error, .. } => error.as_ref(),
        }
    }
}

#[derive(Template)]
#[template(path = "projects/issues.html")]
struct IssueListPage {
    nav: Nav,
    project: Project,
    query: IssueQuery,
    filter: Option<IssueFilter>,
    issues: Vec<ListedIssue>,
    has_more: bool,
    people: Vec<UserRef>,
    statuses: Vec<WorkflowStatus>,
    can_manage: bool,
    filters: Vec<SavedFilter>,
    sprints: Vec<Sprint>,
    /// The project's custom field names, for the column picker.
    custom_fields: Vec<String>,
    error: Option<AppError>,
    /// A refused "save this query" or bulk edit, shown in its form.
    action: Option<ListAction>,
}

impl IssueListPage {
    fn saved_error(&self) -> Option<&AppError> {
        match &self.action {
            Some(ListAction::SaveRefused { error, .. }) => Some(error),
            _ => None,
        }
    }

    fn saved_name(&self) -> &str {
        match &self.action {
            Some(ListAction::SaveRefused { name, .. }) => name,
            _ => "",
        }
    }

    fn bulk_outcomes(&self) -> Option<(&[bulk::Outcome], Option<&AppError>)> {
        match &self.action {
            Some(ListAction::Bulk { outcomes, error }) => Some((outcomes, error.as_ref())),
            _ => None,
        }
    }

    /// The columns a list can add, with whether this list shows each.
    fn column_choices(&self) -> Vec<(String, String, bool)> {
        let chosen: Vec<&str> = self.query.columns.as_deref().unwrap_or("").split(',').map(str::trim).collect();
        let mut choices: Vec<(String, String)> =
            list_columns::BUILT_IN.iter().map(|(name, header)| ((*name).to_owned(), (*header).to_owned())).collect();
        choices.extend(self.custom_fields.iter().map(|name| (format!("custom:{name}"), name.clone())));
        choices
            .into_iter()
            .map(|(name, header)| {
                let on = chosen.contains(&name.as_str());
                (name, header, on)
            })
            .collect()
    }

    fn column_headers(&self) -> Vec<String> {
        self.filter.as_ref().map(|f| f.columns.iter().map(|c| c.header()).collect()).unwrap_or_default()
    }

    fn filter_link(&self, filter: &SavedFilter) -> String {
        format!("/projects/{}/issues?oql={}", self.project.key, url_encode(&filter.oql))
    }

    fn types(&self) -> &'static [IssueType] {
        IssueType::ALL
    }

    fn chosen(&self, value: &Option<String>, option: &str) -> bool {
        value.as_deref().unwrap_or("") == option
    }

    fn page(&self) -> i64 {
        self.filter.as_ref().map_or(1, |f| f.page)
    }

    /// This list's URL with some parameters replaced: for sorting links and paging.
    fn link(&self, changes: &[(&str, String)]) -> String {
        let q = &self.query;
        let mut params: Vec<(&str, String)> = [
            ("oql", q.oql.clone()),
            ("columns", q.columns.clone()),
            ("status", q.status.clone()),
            ("assignee", q.assignee.clone()),
            ("type", q.issue_type.clone()),
            ("q", q.q.clone()),
            ("sort", q.sort.clone()),
            ("order", q.order.clone()),
            ("page", q.page.clone()),
        ]
        .into_iter()
        .filter_map(|(name, value)| value.filter(|v| !v.is_empty()).map(|v| (name, v)))
        .filter(|(name, _)| !changes.iter().any(|(changed, _)| changed == name))
        .collect();
        params.extend(changes.iter().filter(|(_, v)| !v.is_empty()).cloned());
        let query: Vec<String> = params.iter().map(|(name, value)| format!("{name}={}", url_encode(value))).collect();
        format!("/projects/{}/issues?{}", self.project.key, query.join("&"))
    }

    /// This list as CSV: the same filters and query, every page.
    fn export_link(&self) -> String {
        self.link(&[("page", String::new())]).replacen("/issues?", "/issues.csv?", 1)
    }

    fn page_link(&self, page: i64) -> String {
        self.link(&[("page", page.to_string())])
    }

    /// Clicking a column sorts by it; clicking the current sort column flips the order.
    fn sort_link(&self, column: &str) -> String {
        let shown = self.filter.as_ref().and_then(IssueFilter::shown_sort);
        let order = match shown {
            Some((current, true)) if current.as_str() == column => "asc",
            _ => "desc",
        };
        self.link(&[("sort", column.to_owned()), ("order", order.to_owned()), ("page", String::new())])
    }

    /// `aria-sort` for a column header.
    fn aria_sort(&self, column: &str) -> &'static str {
        match self.filter.as_ref().and_then(IssueFilter::shown_sort) {
            Some((sort, true)) if sort.as_str() == column => "descending",
            Some((sort, false)) if sort.as_str() == column => "ascending",
            _ => "none",
        }
    }
}

pub async fn issues(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<String>,
    req: HttpRequest,
) -> Result<HttpResponse, PageError> {
    let query = list_query(req.query_string())?;
    list_page(&signed_in, &state, path.into_inner(), query, None).await
}

/// The list's query string. The column picker's checkboxes repeat `columns`; they are joined
/// into the one comma-separated value that links and the API use.
fn list_query(text: &str) -> Result<IssueQuery, AppError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_str(text)
        .map_err(|e| AppError::bad_request(None, format!("The address's query could not be read: {e}.")))?;
    let columns: Vec<String> = pairs.iter().filter(|(n, _)| n == "columns").map(|(_, v)| v.clone()).collect();
    let mut rest: Vec<(String, String)> = pairs.into_iter().filter(|(n, _)| n != "columns").collect();
    if !columns.is_empty() {
        rest.push(("columns".to_owned(), columns.join(",")));
    }
    let encoded = serde_urlencoded::to_string(&rest).map_err(|e| AppError::internal(format!("query: {e}")))?;
    serde_urlencoded::from_str(&encoded)
        .map_err(|e| AppError::bad_request(None, format!("The address's query could not be read: {e}.")))
}

/// Renders the list for `query`; `action` is a refused save or bulk edit to show.
async fn list_page(
    signed_in: &SignedIn,
    state: &AppState,
    key: String,
    query: IssueQuery,
    action: Option<ListAction>,
) -> Result<HttpResponse, PageError> {
    let me = signed_in.user().id;
    let user = signed_in.user().clone();
    let for_db = query.clone();
    let (project, people, workflow, filters, sprints, custom_fields, listed) = db::run(&state.pool, move |conn| {
        let project = projects::find_by_key(conn, &key)?;
        authorize(&user, Action::ViewProject(&project))?;
        let people = users::project_refs(conn, project.id)?;
        let workflow = Workflow::of(conn, &project)?;
        let filters = saved_filters::visible(conn, &user, project.id)?;
        let sprints = sprints::open_sprints(conn, project.id)?;
        let custom_fields: Vec<String> =
            Catalogue::load(conn, project.id)?.custom_fields.into_iter().map(|f| f.name).collect();
        // A bad filter value or query shows the page with the problem, not an error page.
        let listed = IssueFilter::parse(conn, &for_db, me, &workflow).and_then(|filter| {
            let page = issue_list::list(conn, project.id, &filter, me)?;
            Ok((filter, page))
        });
        match listed {
            Err(error @ AppError::Invalid { .. }) => {
                Ok((project, people, workflow, filters, sprints, custom_fields, Err(error)))
            }
            Err(other) => Err(other),
            Ok(listed) => Ok((project, people, workflow, filters, sprints, custom_fields, Ok(listed))),
        }
    })
    .await?;
    let can_manage = authorize(signed_in.user(), Action::ManageProject(&project)).is_ok();
    let (filter, issues, has_more, error, mut status) = match listed {
        Ok((filter, page)) => (Some(filter), page.issues, page.has_more, None, StatusCode::OK),
        Err(error) => {
            let status = error.status();
            (None, Vec::new(), false, Some(error), status)
        }
    };
    if let Some(refusal) = action.as_ref().and_then(ListAction::error) {
        status = refusal.status();
    }
    let page = IssueListPage {
        nav: Nav::for_user(signed_in, "projects"),
        project,
        query,
        filter,
        issues,
        has_more,
        people,
        statuses: workflow.statuses,
        can_manage,
        filters,
        sprints,
        custom_fields,
        error,
        action,
    };
    Ok(render_with_status(&page, status)?)
}

#[derive(Deserialize)]
pub struct SaveFilterForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    oql: String,
    #[serde(default)]
    shared: String,
}

/// Saves the list's OQL query under a name, for its owner or shared with the project.
pub async fn save_filter(
    form: CsrfForm<SaveFilterForm>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    let key = path.into_inner();
    let (user, actor, project_key) = (signed_in.user().clone(), signed_in.actor.clone(), key.clone());
    let (name, oql, shared) = (data.name.clone(), data.oql.clone(), data.shared == "on");
    let saved = db::run(&state.pool, move |conn| {
        let project = projects::find_by_key(conn, &project_key)?;
        authorize(&user, Action::ViewProject(&project))?;
        saved_filters::create(conn, &actor, &user, &project, &name, &oql, shared)
    })
    .await;
    let query = IssueQuery { oql: Some(data.oql.clone()), ..IssueQuery::default() };
    match saved {
        Ok(filter) => Ok(redirect(&format!("/projects/{}/issues?oql={}", key.to_uppercase(), url_encode(&filter.oql)))),
        Err(error @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => {
            list_page(&signed_in, &state, key, query, Some(ListAction::SaveRefused { name: data.name, error })).await
        }
        Err(other) => Err(other.into()),
    }
}

pub async fn delete_filter(
    form: CsrfForm<SaveFilterForm>,
    state: web::Data<AppState>,
    path: web::Path<(String, i64)>,
) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, .. } = form;
    let (key, id) = path.into_inner();
    let (user, actor, project_key) = (signed_in.user().clone(), signed_in.actor.clone(), key.clone());
    db::run(&state.pool, move |conn| {
        let project = projects::find_by_key(conn, &project_key)?;
        authorize(&user, Action::ViewProject(&project))?;
        saved_filters::delete(conn, &actor, &user, &project, id)
    })
    .await?;
    Ok(redirect(&format!("/projects/{}/issues", key.to_uppercase())))
}

/// The bulk form: the selected issues (`issues`, repeated) and the change, as raw pairs.
fn bulk_change(pairs: &[(String, String)]) -> Result<(Vec<String>, BulkChange, bool), AppError> {
    let value =
        |name: &str| pairs.iter().find(|(n, _)| n == name).map(|(_, v)| v.trim().to_owned()).filter(|v| !v.is_empty());
    let keys = pairs.iter().filter(|(n, _)| n == "issues").map(|(_, v)| v.clone()).collect();
    let assignee = match value("assignee").as_deref() {
        None => None,
        Some("none") => Some(None),
        Some(name) => Some(Some(name.to_owned())),
    };
    let sprint = match value("sprint").as_deref() {
        None => None,
        Some("backlog") => Some(None),
        Some(id) => Some(Some(
            id.parse::<i64>().map_err(|_| AppError::invalid("sprint", format!("\"{id}\" is not a sprint.")))?,
        )),
    };
    let change =
        BulkChange { status: value("status"), assignee, add_labels: value("labels").into_iter().collect(), sprint };
    Ok((keys, change, value("skip_refused").is_some()))
}

/// Applies one change to the selected issues; the list comes back with a result per issue.
pub async fn bulk_edit(
    form: CsrfForm<Vec<(String, String)>>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    let key = path.into_inner();
    let oql = data.iter().find(|(n, _)| n == "oql").map(|(_, v)| v.clone()).filter(|v| !v.is_empty());
    let (user, actor, project_key) = (signed_in.user().clone(), signed_in.actor.clone(), key.clone());
    let applied = match bulk_change(&data) {
        Err(error) => Err(error),
        Ok((keys, change, skip)) => {
            db::run(&state.pool, move |conn| {
                let project = projects::find_by_key(conn, &project_key)?;
                bulk::authorize_change(&user, &project, &change)?;
                bulk::apply(conn, &actor, &project, &keys, &change, skip)
            })
            .await
        }
    };
    let action = match applied {
        Ok(Ok(outcomes)) => ListAction::Bulk { outcomes, error: None },
        Ok(Err(bulk::Refused(outcomes))) => {
            let count = outcomes.iter().filter(|o| o.result == "refused").count();
            let error = AppError::invalid(
                "issues",
                format!("{count} of the selected issues cannot take this change, so nothing was changed. Fix them, or tick \"skip refused issues\"."),
            );
            ListAction::Bulk { outcomes, error: Some(error) }
        }
        Err(error @ AppError::Invalid { .. }) => ListAction::Bulk { outcomes: Vec::new(), error: Some(error) },
        Err(other) => return Err(other.into()),
    };
    let query = IssueQuery { oql, ..IssueQuery::default() };
    list_page(&signed_in, &state, key, query, Some(action)).await
}
