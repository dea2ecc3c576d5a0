//! Webhook pages, for one project (`/projects/KEY/webhooks`, its managers) or the whole
//! installation (`/admin/webhooks`, administrators): the hooks with their secrets, a form to
//! add one, and each hook's delivery log with a redeliver button.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::webhooks::{self, Delivery, NewWebhook, Webhook, EVENTS};
use crate::db;
use crate::errors::AppError;
use crate::identity::permissions::{authorize, Action};
use crate::identity::users::User;
use crate::web::errors::PageError;
use crate::web::extract::{CsrfForm, SignedIn};
use crate::web::pages::{redirect, render, render_with_status, status_for, Nav};
use crate::web::AppState;
use crate::work::projects::{self, Project};

/// Whose hooks a page or API call is about.
pub(super) struct Scope {
    project: Option<Project>,
}

impl Scope {
    /// From the route: with a `{key}`, that project (its managers only); without, global
    /// (administrators only).
    pub(super) async fn of(req: &HttpRequest, state: &AppState, user: &User) -> Result<Scope, AppError> {
        match req.match_info().get("key").map(str::to_owned) {
            Some(key) => {
                let project = db::run(&state.pool, move |conn| projects::find_by_key(conn, &key)).await?;
                authorize(user, Action::ManageProject(&project))?;
                Ok(Scope { project: Some(project) })
            }
            None => {
                authorize(user, Action::Administer)?;
                Ok(Scope { project: None })
            }
        }
    }

    pub(super) fn project_id(&self) -> Option<i64> {
        self.project.as_ref().map(|p| p.id)
    }

    pub fn base(&self) -> String {
        match &self.project {
            Some(project) => format!("/projects/{}/webhooks", project.key),
            None => "/admin/webhooks".to_owned(),
        }
    }

    /// The top-bar section the page belongs to.
    fn section(&self) -> &'static str {
        if self.project.is_some() {
            "projects"
        } else {
            "admin"
        }
    }

    pub fn title(&self) -> String {
        match &self.project {
            Some(project) => format!("Webhooks of {}", project.key),
            None => "Global webhooks (every project)".to_owned(),
        }
    }
}

/// A numeric route segment; anything else is "not found".
pub(super) fn path_id(req: &HttpRequest, name: &str) -> Result<i64, AppError> {
    req.match_info()
        .get(name)
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| AppError::not_found(format!("There is no such {name}.")))
}

#[derive(Template)]
#[template(path = "integrations/webhooks.html")]
struct HooksPage {
    nav: Nav,
    scope: Scope,
    hooks: Vec<Webhook>,
    events: &'static [&'static str],
    form: HookForm,
    error: Option<AppError>,
}

#[derive(Deserialize, Default)]
pub struct HookForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    url: String,
    /// Comma- or space-separated topics, or `*`.
    #[serde(default)]
    events: String,
}

impl HookForm {
    fn event_list(&self) -> Vec<String> {
        self.events.split([',', ' ', '\n']).map(str::trim).filter(|e| !e.is_empty()).map(str::to_owned).collect()
    }
}

async fn hooks_page(
    signed_in: &SignedIn,
    state: &AppState,
    scope: Scope,
    form: HookForm,
    error: Option<AppError>,
) -> Result<HttpResponse, PageError> {
    let project_id = scope.project_id();
    let hooks = db::run(&state.pool, move |conn| Ok(webhooks::list(conn, project_id)?)).await?;
    let status = status_for(error.as_ref());
    let page = HooksPage { nav: Nav::for_user(signed_in, scope.section()), scope, hooks, events: EVENTS, form, error };
    Ok(render_with_status(&page, status)?)
}

pub async fn list(
    req: HttpRequest,
    signed_in: SignedIn,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let scope = Scope::of(&req, &state, signed_in.user()).await?;
    let form = HookForm { events: "issue.created, issue.updated, comment.created".to_owned(), ..HookForm::default() };
    hooks_page(&signed_in, &state, scope, form, None).await
}

pub async fn create(
    req: HttpRequest,
    form: CsrfForm<HookForm>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    let scope = Scope::of(&req, &state, signed_in.user()).await?;
    let new = NewWebhook { name: data.name.clone(), url: data.url.clone(), events: data.event_list() };
    let (actor, project_id, keys) = (signed_in.actor.clone(), scope.project_id(), state.keys.clone());
    match db::run(&state.pool, move |conn| webhooks::create(conn, &keys, &actor, project_id, new)).await {
        Ok(hook) => Ok(redirect(&format!("{}/{}", scope.base(), hook.id))),
        Err(error) => hooks_page(&signed_in, &state, scope, data, Some(error)).await,
    }
}

/// Enable, disable or delete.
pub async fn change(
    req: HttpRequest,
    form: CsrfForm<std::collections::HashMap<String, String>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let signed_in = form.signed_in;
    let scope = Scope::of(&req, &state, signed_in.user()).await?;
    let id = path_id(&req, "id")?;
    let action = req.match_info().get("action").unwrap_or_default().to_owned();
    let (actor, project_id) = (signed_in.actor.clone(), scope.project_id());
    let deleted = action == "delete";
    db::run(&state.pool, move |conn| webhooks::change(conn, &actor, project_id, id, &action)).await?;
    Ok(redirect(&if deleted { scope.base() } else { format!("{}/{id}", scope.base()) }))
}

#[derive(Template)]
#[template(path = "integrations/webhook.html")]
struct HookPage {
    nav: Nav,
    scope: Scope,
    hook: Webhook,
    /// The signing secret in the clear, for whoever manages the hook.
    secret: String,
    deliveries: Vec<Delivery>,
}

pub async fn show(
    req: HttpRequest,
    signed_in: SignedIn,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let scope = Scope::of(&req, &state, signed_in.user()).await?;
    let id = path_id(&req, "id")?;
    let (project_id, keys) = (scope.project_id(), state.keys.clone());
    let (hook, secret, deliveries) = db::run(&state.pool, move |conn| {
        let hook = webhooks::find(conn, project_id, id)?;
        let secret = webhooks::signing_secret(conn, &keys, &hook)?;
        let deliveries = webhooks::deliveries(conn, id, 100)?;
        Ok((hook, secret, deliveries))
    })
    .await?;
    let page = HookPage { nav: Nav::for_user(&signed_in, scope.section()), scope, hook, secret, deliveries };
    Ok(render(&page)?)
}

pub async fn redeliver(
    req: HttpRequest,
    form: CsrfForm<std::collections::HashMap<String, String>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let signed_in = form.signed_in;
    let scope = Scope::of(&req, &state, signed_in.user()).await?;
    let (id, delivery) = (path_id(&req, "id")?, path_id(&req, "delivery")?);
    let (actor, project_id) = (signed_in.actor.clone(), scope.project_id());
    db::run(&state.pool, move |conn| {
        let hook = webhooks::find(conn, project_id, id)?;
        webhooks::redeliver(conn, &actor, &hook, delivery)
    })
    .await?;
    Ok(redirect(&format!("{}/{id}", scope.base())))
}
