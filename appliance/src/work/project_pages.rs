//! Pages: home, the project list, creating a project, and the OQL reference.

use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::issue_list::{self, ListedIssue};
use super::projects::{self, NewProject, Project};
use crate::db;
use crate::errors::AppError;
use crate::identity::permissions::{authorize, Action};
use crate::web::errors::PageError;
use crate::web::extract::{CsrfForm, SignedIn};
use crate::web::pages::{redirect, render, render_with_status, url_encode, Nav};
use crate::web::AppState;

/// The project a URL names, once the user is allowed `action` on it.
pub async fn project_for(
    state: &AppState,
    signed_in: &SignedIn,
    key: String,
    action: for<'a> fn(&'a Project) -> Action<'a>,
) -> Result<Project, AppError> {
    let project = db::run(&state.pool, move |conn| projects::find_by_key(conn, &key)).await?;
    authorize(signed_in.user(), action(&project))?;
    Ok(project)
}

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
    let me = signed_in.user().clone();
    let (assigned, recent, has_projects) = db::run(&state.pool, move |conn| {
        let assigned = issue_list::assigned_to(conn, &me, 20)?;
        let recent = issue_list::recently_updated(conn, &me, 20)?;
        let has_projects = !projects::visible(conn, &me)?.is_empty();
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
    let reader = signed_in.user().clone();
    let projects = db::run(&state.pool, move |conn| Ok(projects::visible(conn, &reader)?)).await?;
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
#[template(path = "help/oql.html")]
struct OqlHelpPage {
    nav: Nav,
}

/// The OQL reference: grammar, fields, operators, functions and examples.
pub async fn oql_help(signed_in: SignedIn) -> Result<HttpResponse, PageError> {
    Ok(render(&OqlHelpPage { nav: Nav::for_user(&signed_in, "projects") })?)
}
