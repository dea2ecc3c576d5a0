//! Pages: home, the project list, creating a project, and a project's issue list.

use actix_web::http::StatusCode;
use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::issue_list::{self, IssueFilter, IssueQuery, ListedIssue};
use super::kinds::IssueType;
use super::projects::{self, NewProject, Project};
use super::workflows::{Workflow, WorkflowStatus};
use crate::db;
use crate::errors::AppError;
use crate::identity::permissions::{authorize, Action};
use crate::identity::users::{self, UserRef};
use crate::web::errors::PageError;
use crate::web::extract::{CsrfForm, SignedIn};
use crate::web::pages::{redirect, render, render_with_status, url_encode, Nav};
use crate::web::AppState;

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage {
    nav: Nav,
    assigned: Vec<ListedIssue>,
    recent: Vec<ListedIssue>,
    has_projects: bool,
}

pub async fn home(signed_in: SignedIn, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    authorize(signed_in.user(), Action::ListProjects)?;
    let me = signed_in.user().id;
    let (assigned, recent, has_projects) = db::run(&state.pool, move |conn| {
        let assigned = issue_list::assigned_to(conn, me, 20)?;
        let recent = issue_list::recently_updated(conn, 20)?;
        let has_projects = projects::any_exist(conn)?;
        Ok((assigned, recent, has_projects))
    })
    .await?;
    Ok(render(&HomePage { nav: Nav::for_user(&signed_in, "home"), assigned, recent, has_projects })?)
}

#[derive(Template)]
#[template(path = "projects/list.html")]
struct ProjectListPage {
    nav: Nav,
    projects: Vec<Project>,
    can_create: bool,
}

pub async fn list(signed_in: SignedIn, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    authorize(signed_in.user(), Action::ListProjects)?;
    let projects = db::run(&state.pool, |conn| Ok(projects::list(conn)?)).await?;
    let can_create = authorize(signed_in.user(), Action::CreateProject).is_ok();
    Ok(render(&ProjectListPage { nav: Nav::for_user(&signed_in, "projects"), projects, can_create })?)
}

#[derive(Default, Deserialize)]
pub struct ProjectForm {
    #[serde(default)]
    key: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    description: String,
}

#[derive(Template)]
#[template(path = "projects/new.html")]
struct NewProjectPage {
    nav: Nav,
    form: ProjectForm,
    error: Option<AppError>,
}

pub async fn new_form(signed_in: SignedIn) -> Result<HttpResponse, PageError> {
    authorize(signed_in.user(), Action::CreateProject)?;
    Ok(render(&NewProjectPage {
        nav: Nav::for_user(&signed_in, "projects"),
        form: ProjectForm::default(),
        error: None,
    })?)
}

pub async fn create(form: CsrfForm<ProjectForm>, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    authorize(signed_in.user(), Action::CreateProject)?;
    let new = NewProject { key: data.key.clone(), name: data.name.clone(), description: data.description.clone() };
    let (actor, lead) = (signed_in.actor.clone(), signed_in.user().id);
    match db::run(&state.pool, move |conn| projects::create(conn, &actor, lead, new)).await {
        Ok(project) => Ok(redirect(&format!("/projects/{}/issues", project.key))),
        // The form comes back as the user filled it in, with the problem beside its field.
        Err(error @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => {
            let status = error.status();
            let page = NewProjectPage { nav: Nav::for_user(&signed_in, "projects"), form: data, error: Some(error) };
            Ok(render_with_status(&page, status)?)
        }
        Err(other) => Err(other.into()),
    }
}

pub async fn show(path: web::Path<String>) -> HttpResponse {
    redirect(&format!("/projects/{}/issues", url_encode(&path)))
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
    error: Option<AppError>,
}

impl IssueListPage {
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
    query: web::Query<IssueQuery>,
) -> Result<HttpResponse, PageError> {
    let key = path.into_inner();
    let query = query.into_inner();
    let me = signed_in.user().id;
    let user = signed_in.user().clone();
    let for_db = query.clone();
    let (project, people, workflow, listed) = db::run(&state.pool, move |conn| {
        let project = projects::find_by_key(conn, &key)?;
        authorize(&user, Action::ViewProject(&project))?;
        let people = users::active_refs(conn)?;
        let workflow = Workflow::load(conn, project.id)?;
        // A bad filter value or query shows the page with the problem, not an error page.
        let listed = IssueFilter::parse(conn, &for_db, me, &workflow).and_then(|filter| {
            let page = issue_list::list(conn, project.id, &filter, me)?;
            Ok((filter, page))
        });
        match listed {
            Err(error @ AppError::Invalid { .. }) => Ok((project, people, workflow, Err(error))),
            Err(other) => Err(other),
            Ok(listed) => Ok((project, people, workflow, Ok(listed))),
        }
    })
    .await?;
    let can_manage = authorize(signed_in.user(), Action::ManageProject(&project)).is_ok();
    let (filter, issues, has_more, error, status) = match listed {
        Ok((filter, page)) => (Some(filter), page.issues, page.has_more, None, StatusCode::OK),
        Err(error) => {
            let status = error.status();
            (None, Vec::new(), false, Some(error), status)
        }
    };
    let page = IssueListPage {
        nav: Nav::for_user(&signed_in, "projects"),
        project,
        query,
        filter,
        issues,
        has_more,
        people,
        statuses: workflow.statuses,
        can_manage,
        error,
    };
    Ok(render_with_status(&page, status)?)
}

#[derive(Template)]
#[template(path = "help/oql.html")]
struct OqlHelpPage {
    nav: Nav,
}

/// The OQL reference: grammar, fields, operators, functions and examples.
pub async fn oql_help(signed_in: SignedIn) -> Result<HttpResponse, PageError> {
    Ok(render(&OqlHelpPage { nav: Nav::for_user(&signed_in, "projects") })?)
}
