//! Passwords as pages: asking for a reset link (`/login/reset`), using it
//! (`/login/reset/{token}`), and changing one's own (`/settings/password`), which is also where
//! someone whose password an administrator set is sent first.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::pages::{cookie, decode_login_form, LoginToken};
use super::resets;
use crate::audit::Actor;
use crate::db;
use crate::errors::AppError;
use crate::web::errors::PageError;
use crate::web::extract::{client_ip, CsrfForm, SignedIn, SESSION_COOKIE};
use crate::web::pages::{redirect, render_with_status, status_for, Nav};
use crate::web::AppState;

#[derive(Template)]
#[template(path = "reset.html")]
struct ResetPage {
    nav: Nav,
    csrf_token: String,
    /// The link's token, when choosing the new password.
    token: Option<String>,
    done: Option<String>,
    error: Option<String>,
}

/// The reset page, carrying the pre-sign-in CSRF token (set as a cookie when it is new).
fn reset_page(
    req: &HttpRequest,
    state: &AppState,
    token: Option<String>,
    done: Option<String>,
    error: Option<AppError>,
) -> Result<HttpResponse, PageError> {
    let login_token = LoginToken::of(req);
    let status = status_for(error.as_ref());
    let page = ResetPage {
        nav: Nav::anonymous(),
        csrf_token: login_token.value.clone(),
        token,
        done,
        error: error.map(|e| e.to_string()),
    };
    let mut response = render_with_status(&page, status)?;
    login_token.keep(&mut response, state)?;
    Ok(response)
}

/// `GET /login/reset`.
pub async fn request_form(req: HttpRequest, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    reset_page(&req, &state, None, None, None)
}

#[derive(Deserialize)]
pub struct RequestForm {
    #[serde(default)]
    who: String,
}

/// `POST /login/reset`: the same answer whether or not an account matched.
pub async fn request(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let form: RequestForm = decode_login_form(&req, &body)?;
    let (config, actor) = (state.config.clone(), Actor::anonymous(client_ip(&req)));
    let asked = db::run(&state.pool, move |conn| resets::request(conn, &config, &actor, &form.who)).await;
    match asked {
        Ok(()) => {
            let done = "If an account here has that name or address, a link to choose a new password is on its way to its mail. It works once, for 30 minutes.";
            reset_page(&req, &state, None, Some(done.to_owned()), None)
        }
        Err(error @ AppError::Invalid { .. }) => reset_page(&req, &state, None, None, Some(error)),
        Err(other) => Err(other.into()),
    }
}

/// `GET /login/reset/{token}`.
pub async fn choose_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let token = path.into_inner();
    let probe = token.clone();
    db::run(&state.pool, move |conn| resets::pending(conn, &probe).map(drop)).await?;
    reset_page(&req, &state, Some(token), None, None)
}

#[derive(Deserialize)]
pub struct ChooseForm {
    #[serde(default)]
    password: String,
    #[serde(default)]
    again: String,
}

/// `POST /login/reset/{token}`.
pub async fn choose(
    req: HttpRequest,
    state: web::Data<AppState>,
    path: web::Path<String>,
    body: web::Bytes,
) -> Result<HttpResponse, PageError> {
    let form: ChooseForm = decode_login_form(&req, &body)?;
    let token = path.into_inner();
    let (actor, spent) = (Actor::anonymous(client_ip(&req)), token.clone());
    let set =
        db::run(&state.pool, move |conn| resets::complete(conn, &actor, &spent, &form.password, &form.again)).await;
    match set {
        Ok(_) => reset_page(&req, &state, None, Some("Your new password is set. Sign in with it.".to_owned()), None),
        Err(error @ AppError::Invalid { .. }) => reset_page(&req, &state, Some(token), None, Some(error)),
        Err(other) => Err(other.into()),
    }
}

#[derive(Template)]
#[template(path = "password.html")]
struct PasswordPage {
    nav: Nav,
    must_change: bool,
    error: Option<AppError>,
}

/// `GET /settings/password`.
pub async fn settings(signed_in: SignedIn) -> Result<HttpResponse, PageError> {
    let page = PasswordPage {
        nav: Nav::for_user(&signed_in, "settings"),
        must_change: signed_in.user().password_must_change,
        error: None,
    };
    Ok(render_with_status(&page, status_for(None))?)
}

#[derive(Deserialize)]
pub struct ChangeForm {
    #[serde(default)]
    current: String,
    #[serde(default)]
    password: String,
    #[serde(default)]
    again: String,
}

/// `POST /settings/password`: on success every session ends, this one too.
pub async fn change(form: CsrfForm<ChangeForm>, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    let (actor, user) = (signed_in.actor.clone(), signed_in.user().clone());
    let changed = db::run(&state.pool, move |conn| {
        resets::change_own(conn, &actor, &user, &data.current, &data.password, &data.again)
    })
    .await;
    match changed {
        Ok(_) => {
            let mut response = redirect("/login");
            response.add_removal_cookie(&cookie(SESSION_COOKIE, String::new(), &state)).map_err(AppError::internal)?;
            Ok(response)
        }
        Err(error @ (AppError::Invalid { .. } | AppError::Conflict { .. })) => {
            let status = status_for(Some(&error));
            let page = PasswordPage {
                nav: Nav::for_user(&signed_in, "settings"),
                must_change: signed_in.user().password_must_change,
                error: Some(error),
            };
            Ok(render_with_status(&page, status)?)
        }
        Err(other) => Err(other.into()),
    }
}
