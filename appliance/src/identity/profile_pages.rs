//! `GET|POST /settings/profile`: a person's own name, email and time zone, their teams, and
//! the global role an administrator gave them.

use actix_web::{web, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::accounts::{self, ProfileChange};
use super::permissions::global_role;
use super::teams::{self, Team};
use super::users::User;
use crate::db;
use crate::errors::AppError;
use crate::web::errors::PageError;
use crate::web::extract::{CsrfForm, SignedIn};
use crate::web::pages::{render_with_status, status_for, Nav};
use crate::web::AppState;

#[derive(Clone, Debug, Default, Deserialize)]
pub struct ProfileForm {
    #[serde(default)]
    display_name: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    timezone: String,
}

#[derive(Template)]
#[template(path = "profile.html")]
struct ProfilePage {
    nav: Nav,
    user: User,
    initials: String,
    role_label: &'static str,
    teams: Vec<Team>,
    zones: Vec<&'static str>,
    typed: ProfileForm,
    saved: bool,
    error: Option<AppError>,
}

async fn page(
    signed_in: &SignedIn,
    state: &AppState,
    user: User,
    typed: Option<ProfileForm>,
    outcome: Result<bool, AppError>,
) -> Result<HttpResponse, PageError> {
    let user_id = user.id;
    let teams = db::run(&state.pool, move |conn| Ok(teams::of_user(conn, user_id)?)).await?;
    let typed = typed.unwrap_or_else(|| ProfileForm {
        display_name: user.display_name.clone(),
        email: user.email.clone(),
        timezone: user.timezone.clone(),
    });
    let (saved, error) = match outcome {
        Ok(saved) => (saved, None),
        Err(error) => (false, Some(error)),
    };
    let status = status_for(error.as_ref());
    let page = ProfilePage {
        nav: Nav::for_user(signed_in, "settings"),
        initials: accounts::initials(&user.display_name),
        role_label: global_role(&user).label(),
        user,
        teams,
        zones: chrono_tz::TZ_VARIANTS.iter().map(|zone| zone.name()).collect(),
        typed,
        saved,
        error,
    };
    Ok(render_with_status(&page, status)?)
}

pub async fn show(signed_in: SignedIn, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let user = signed_in.user().clone();
    page(&signed_in, &state, user, None, Ok(false)).await
}

pub async fn save(form: CsrfForm<ProfileForm>, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    let (actor, user, input) = (signed_in.actor.clone(), signed_in.user().clone(), data.clone());
    let saved = db::run(&state.pool, move |conn| {
        let change = ProfileChange { display_name: input.display_name, email: input.email, timezone: input.timezone };
        accounts::update_profile(conn, &actor, &user, change)
    })
    .await;
    match saved {
        Ok(user) => page(&signed_in, &state, user, None, Ok(true)).await,
        Err(error) => page(&signed_in, &state, signed_in.user().clone(), Some(data), Err(error)).await,
    }
}
