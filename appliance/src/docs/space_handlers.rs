//! The spaces list (with the form for a standalone space) and a space's home: its page tree.

use actix_web::{web, HttpResponse};
use askama::Template;

use super::spaces::{self, NewSpace, Space};
use super::tree;
use crate::db;
use crate::errors::AppError;
use crate::identity::permissions::{authorize, Action};
use crate::web::errors::PageError;
use crate::web::extract::{CsrfForm, SignedIn};
use crate::web::pages::{redirect, render, render_with_status, status_for, Nav};
use crate::web::AppState;

#[derive(Template)]
#[template(path = "docs/spaces.html")]
struct SpacesPage {
    nav: Nav,
    spaces: Vec<(Space, i64)>,
    can_create: bool,
    form: NewSpace,
    error: Option<AppError>,
}

async fn spaces_page(
    signed_in: &SignedIn,
    state: &AppState,
    form: NewSpace,
    error: Option<AppError>,
) -> Result<HttpResponse, PageError> {
    let user = signed_in.user().clone();
    let spaces = db::run(&state.pool, move |conn| Ok(spaces::list_visible(conn, &user)?)).await?;
    let status = status_for(error.as_ref());
    let can_create = authorize(signed_in.user(), Action::CreateSpace).is_ok();
    let page = SpacesPage { nav: Nav::for_user(signed_in, "docs"), spaces, can_create, form, error };
    Ok(render_with_status(&page, status)?)
}

/// `GET /spaces`
pub async fn list(signed_in: SignedIn, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    spaces_page(&signed_in, &state, NewSpace::default(), None).await
}

/// `POST /spaces`: a standalone space; a refusal shows the form again, filled in.
pub async fn create(form: CsrfForm<NewSpace>, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    let (actor, user, new) = (signed_in.actor.clone(), signed_in.user().clone(), data.clone());
    match db::run(&state.pool, move |conn| spaces::create(conn, &actor, &user, new)).await {
        Ok(space) => Ok(redirect(&format!("/spaces/{}", space.key))),
        Err(error @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => {
            spaces_page(&signed_in, &state, data, Some(error)).await
        }
        Err(other) => Err(other.into()),
    }
}

#[derive(Template)]
#[template(path = "docs/space.html")]
struct SpacePage {
    nav: Nav,
    space: Space,
    /// The space's project key, for the project tabs.
    project_key: Option<String>,
    tree_html: String,
    page_count: usize,
    can_edit: bool,
}

/// `GET /spaces/{key}`: the space's outline.
pub async fn show(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let (user, key) = (signed_in.user().clone(), path.into_inner());
    let (space, outline, project_key) = db::run(&state.pool, move |conn| {
        let space = spaces::find_allowed(conn, &user, &key, |space| Action::ViewSpace(space))?;
        let outline = tree::outline(conn, space.id)?;
        let project_key = space.project_id.map(|_| space.key.clone());
        Ok((space, outline, project_key))
    })
    .await?;
    let can_edit = authorize(signed_in.user(), Action::EditPages(&space)).is_ok();
    let page = SpacePage {
        nav: Nav::for_user(&signed_in, "docs"),
        tree_html: outline.to_html(None),
        page_count: outline.entries.len(),
        space,
        project_key,
        can_edit,
    };
    Ok(render(&page)?)
}
