//! `GET /login/sso` sends the browser to the single sign-on provider; `GET /login/sso/callback`
//! is where the provider sends it back, and opens the session.

use actix_web::{web, HttpRequest, HttpResponse};
use serde::Deserialize;

use super::pages::{sign_in_response, Arrival};
use super::sessions;
use super::sso;
use crate::db;
use crate::errors::AppError;
use crate::web::errors::PageError;
use crate::web::pages::{local_path, redirect};
use crate::web::AppState;

fn configured(state: &AppState) -> Result<crate::config::OidcConfig, AppError> {
    state.config.oidc.clone().ok_or_else(|| AppError::not_found("Single sign-on is not set up here."))
}

#[derive(Deserialize)]
pub struct StartQuery {
    next: Option<String>,
}

pub async fn start(state: web::Data<AppState>, query: web::Query<StartQuery>) -> Result<HttpResponse, PageError> {
    let config = configured(&state)?;
    let next = local_path(query.next.as_deref());
    let target = db::run(&state.pool, move |conn| sso::begin(conn, &config, &next)).await?;
    Ok(redirect(&target))
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    #[serde(default)]
    state: String,
    #[serde(default)]
    code: String,
    /// Set instead of a code when the provider refused (the person cancelled, for one).
    error: Option<String>,
}

pub async fn callback(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<CallbackQuery>,
) -> Result<HttpResponse, PageError> {
    let config = configured(&state)?;
    let query = query.into_inner();
    if let Some(error) = query.error {
        return Err(
            AppError::Unauthenticated(format!("The single sign-on provider did not sign you in ({error}).")).into()
        );
    }
    let arrival = Arrival::of(&req);
    let opened = db::run(&state.pool, move |conn| {
        let (user, next) = sso::finish(conn, &config, &arrival.actor, &query.state, &query.code)?;
        if !user.is_active {
            return Err(AppError::forbidden("This account is deactivated; ask an administrator."));
        }
        Ok((sessions::after_first_factor(conn, &user, &arrival.context(None))?, next))
    })
    .await?;
    let (step, next) = opened;
    sign_in_response(&state, step, &next)
}
