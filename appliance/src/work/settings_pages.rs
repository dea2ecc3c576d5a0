//! A project's settings page: its versions (releases), components and custom fields. Each
//! section has its own small form; a refusal comes back in its section with what was typed.

use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::fields::{self, Catalogue, FieldKind};
use super::issue_fields::parse_date;
use super::project_pages::project_for;
use super::projects::Project;
use crate::db;
use crate::errors::AppError;
use crate::identity::permissions::Action;
use crate::web::errors::PageError;
use crate::web::extract::{CsrfForm, SignedIn};
use crate::web::pages::{redirect, render_with_status, status_for, Nav};
use crate::web::AppState;

/// Every input of the page's forms; each form sends its own part.
#[derive(Clone, Debug, Default, Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    release_date: String,
    #[serde(default)]
    released: String,
    #[serde(default)]
    kind: String,
    #[serde(default)]
    options: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Versions,
    Components,
    Fields,
}

#[derive(Template)]
#[template(path = "projects/settings.html")]
struct SettingsPage {
    nav: Nav,
    project: Project,
    catalogue: Catalogue,
    /// The form that was refused, with what was typed and why.
    refused: Option<(Part, SettingsForm, AppError)>,
}

impl SettingsPage {
    fn kinds(&self) -> &'static [FieldKind] {
        &FieldKind::ALL
    }

    fn typed(&self, part: Part) -> SettingsForm {
        self.refused.as_ref().filter(|(p, _, _)| *p == part).map(|(_, form, _)| form.clone()).unwrap_or_default()
    }

    fn error_in(&self, part: Part) -> Option<&AppError> {
        self.refused.as_ref().filter(|(p, _, _)| *p == part).map(|(_, _, error)| error)
    }
}

async fn page(
    signed_in: &SignedIn,
    state: &AppState,
    project: Project,
    refused: Option<(Part, SettingsForm, AppError)>,
) -> Result<HttpResponse, PageError> {
    let project_id = project.id;
    let catalogue = db::run(&state.pool, move |conn| Ok(Catalogue::load(conn, project_id)?)).await?;
    let status = status_for(refused.as_ref().map(|(_, _, error)| error));
    Ok(render_with_status(
        &SettingsPage { nav: Nav::for_user(signed_in, "projects"), project, catalogue, refused },
        status,
    )?)
}

pub async fn show(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let project = project_for(&state, &signed_in, path.into_inner(), |p| Action::ManageProject(p)).await?;
    page(&signed_in, &state, project, None).await
}

/// Saves one part of the settings page.
pub async fn save(
    form: CsrfForm<SettingsForm>,
    state: web::Data<AppState>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    let (key, part_name) = path.into_inner();
    let project = project_for(&state, &signed_in, key, |p| Action::ManageProject(p)).await?;
    let part = match part_name.as_str() {
        "versions" | "release" | "remove-version" => Part::Versions,
        "components" | "remove-component" => Part::Components,
        "fields" | "choices" | "remove-field" => Part::Fields,
        other => return Err(AppError::not_found(format!("There is no settings section \"{other}\".")).into()),
    };
    let (actor, target, input) = (signed_in.actor.clone(), project.clone(), data.clone());
    let saved = db::run(&state.pool, move |conn| match part_name.as_str() {
        "versions" => {
            let release_date = parse_date("release_date", &input.release_date)?;
            fields::add_version(conn, &actor, &target, &input.name, release_date)
        }
        "release" => fields::set_released(conn, &actor, &target, &input.name, input.released == "on"),
        "components" => fields::add_component(conn, &actor, &target, &input.name),
        "remove-version" => fields::remove(conn, &actor, &target, fields::Part::Version, &input.name),
        "remove-component" => fields::remove(conn, &actor, &target, fields::Part::Component, &input.name),
        "remove-field" => fields::remove(conn, &actor, &target, fields::Part::CustomField, &input.name),
        "choices" => fields::set_choices(conn, &actor, &target, &input.name, &input.options),
        _ => {
            let kind = FieldKind::parse(&input.kind)?;
            fields::add_custom_field(conn, &actor, &target, &input.name, kind, &input.options)
        }
    })
    .await;
    match saved {
        Ok(()) => Ok(redirect(&format!("/projects/{}/settings", project.key))),
        Err(error @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => {
            page(&signed_in, &state, project, Some((part, data, error))).await
        }
        Err(other) => Err(other.into()),
    }
}
