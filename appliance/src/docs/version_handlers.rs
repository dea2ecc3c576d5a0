//! A page's history: the list of versions, one old version, the diff between two, and
//! restoring an old version (itself a new version, so the history only ever grows).

use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::pages::{self, Page, Saved};
use super::spaces::Space;
use super::versions::{self, DiffLine, PageVersion};
use crate::db;
use crate::errors::AppError;
use crate::identity::permissions::{authorize, Action};
use crate::web::errors::PageError;
use crate::web::extract::{CsrfForm, SignedIn};
use crate::web::markdown;
use crate::web::pages::{redirect, render, Nav};
use crate::web::AppState;

#[derive(Template)]
#[template(path = "docs/versions.html")]
struct VersionsPage {
    nav: Nav,
    space: Space,
    page: Page,
    versions: Vec<(PageVersion, String)>,
}

/// `GET /pages/{id}/versions`
pub async fn list(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let (user, id) = (signed_in.user().clone(), path.into_inner());
    let (space, page, versions) = db::run(&state.pool, move |conn| {
        let (space, page) = pages::find_allowed(conn, &user, id, |space| Action::ViewSpace(space))?;
        let versions = versions::list(conn, id)?;
        Ok((space, page, versions))
    })
    .await?;
    Ok(render(&VersionsPage { nav: Nav::for_user(&signed_in, "docs"), space, page, versions })?)
}

#[derive(Template)]
#[template(path = "docs/version.html")]
struct VersionPage {
    nav: Nav,
    space: Space,
    page: Page,
    version: PageVersion,
    author: String,
    body_html: String,
    can_restore: bool,
}

/// `GET /pages/{id}/versions/{version}`
pub async fn show(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<(i64, i32)>,
) -> Result<HttpResponse, PageError> {
    let (user, (id, number)) = (signed_in.user().clone(), path.into_inner());
    let nav = Nav::for_user(&signed_in, "docs");
    let view = db::run(&state.pool, move |conn| {
        let (space, page) = pages::find_allowed(conn, &user, id, |space| Action::ViewSpace(space))?;
        let (version, author) = versions::find(conn, id, number)?;
        Ok(VersionPage {
            nav,
            body_html: markdown::to_html(&version.body),
            can_restore: authorize(&user, Action::EditPages(&space)).is_ok() && version.version != page.version,
            space,
            page,
            version,
            author,
        })
    })
    .await?;
    Ok(render(&view)?)
}

#[derive(Template)]
#[template(path = "docs/diff.html")]
struct DiffPage {
    nav: Nav,
    space: Space,
    page: Page,
    from: PageVersion,
    to: PageVersion,
    hunks: Vec<Vec<DiffLine>>,
}

#[derive(Deserialize)]
pub struct DiffQuery {
    from: Option<String>,
    to: Option<String>,
}

fn version_number(field: &str, text: Option<&str>) -> Result<Option<i32>, AppError> {
    match text.map(str::trim).filter(|t| !t.is_empty()) {
        None => Ok(None),
        Some(text) => text
            .parse::<i32>()
            .map(Some)
            .map_err(|_| AppError::invalid(field, format!("\"{text}\" is not a version number."))),
    }
}

/// `GET /pages/{id}/diff?from=A&to=B`: what changed from version A to version B (by default,
/// from the one before the latest to the latest).
pub async fn diff(
    signed_in: SignedIn,
    state: web::Data<AppState>,
    path: web::Path<i64>,
    query: web::Query<DiffQuery>,
) -> Result<HttpResponse, PageError> {
    let (user, id) = (signed_in.user().clone(), path.into_inner());
    let from = version_number("from", query.from.as_deref())?;
    let to = version_number("to", query.to.as_deref())?;
    let nav = Nav::for_user(&signed_in, "docs");
    let view = db::run(&state.pool, move |conn| {
        let (space, page) = pages::find_allowed(conn, &user, id, |space| Action::ViewSpace(space))?;
        let to = to.unwrap_or(page.version);
        let from = from.unwrap_or((to - 1).max(1));
        let (from, _) = versions::find(conn, id, from)?;
        let (to, _) = versions::find(conn, id, to)?;
        let hunks = versions::diff(&from.body, &to.body, 3);
        Ok(DiffPage { nav, space, page, from, to, hunks })
    })
    .await?;
    Ok(render(&view)?)
}

#[derive(Deserialize)]
pub struct RestoreForm {
    base_version: String,
}

/// `POST /pages/{id}/versions/{version}/restore`: refused like any save when someone saved
/// after the history page was opened.
pub async fn restore(
    form: CsrfForm<RestoreForm>,
    state: web::Data<AppState>,
    path: web::Path<(i64, i32)>,
) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    let (user, actor, (id, number)) = (signed_in.user().clone(), signed_in.actor.clone(), path.into_inner());
    let base_version = data.base_version.trim().parse::<i32>().map_err(|_| {
        AppError::invalid("base_version", "The form does not say which version it restores over; reload the page.")
    })?;
    let saved = db::run(&state.pool, move |conn| {
        pages::find_allowed(conn, &user, id, |space| Action::EditPages(space))?;
        versions::restore(conn, &actor, id, number, base_version)
    })
    .await?;
    let (Saved::Changed(page) | Saved::Unchanged(page)) = saved;
    Ok(redirect(&format!("/pages/{}", page.id)))
}
