//! Two-factor sign-in as pages: the code step of signing in (`/login/code`), enrolment and
//! turning it off (`/settings/mfa`), and the administrators' rule on who must use it.

use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::mfa::{self, Requirement};
use super::pages::{decode_login_form, session_response, Arrival, LoginToken, MFA_CHALLENGE_COOKIE};
use super::permissions::{authorize, Action};
use super::sessions;
use crate::db;
use crate::errors::AppError;
use crate::web::errors::PageError;
use crate::web::extract::{CsrfForm, SignedIn};
use crate::web::pages::{local_path, redirect, render_with_status, status_for, Nav};
use crate::web::AppState;

#[derive(Template)]
#[template(path = "login_code.html")]
struct CodePage {
    nav: Nav,
    csrf_token: String,
    next: String,
    error: Option<String>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

fn code_page(
    req: &HttpRequest,
    state: &AppState,
    next: String,
    error: Option<AppError>,
) -> Result<HttpResponse, PageError> {
    // A sign-in through the provider arrives here without having seen the sign-in form.
    let token = LoginToken::of(req);
    let status = status_for(error.as_ref());
    let page =
        CodePage { nav: Nav::anonymous(), csrf_token: token.value.clone(), next, error: error.map(|e| e.to_string()) };
    let mut response = render_with_status(&page, status)?;
    token.keep(&mut response, state)?;
    Ok(response)
}

/// `GET /login/code`: the second step of signing in; without a waiting sign-in, back to the first.
pub async fn code_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, PageError> {
    let next = local_path(query.next.as_deref());
    if req.cookie(MFA_CHALLENGE_COOKIE).is_none() {
        return Ok(redirect(&format!("/login?next={}", crate::web::pages::url_encode(&next))));
    }
    code_page(&req, &state, next, None)
}

#[derive(Deserialize)]
pub struct CodeForm {
    #[serde(default)]
    code: String,
    next: Option<String>,
}

/// `POST /login/code`.
pub async fn code(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> Result<HttpResponse, PageError> {
    let form: CodeForm = decode_login_form(&req, &body)?;
    let next = local_path(form.next.as_deref());
    let challenge = req.cookie(MFA_CHALLENGE_COOKIE).map(|c| c.value().to_owned()).unwrap_or_default();
    let (arrival, code, keys) = (Arrival::of(&req), form.code, state.keys.clone());
    let opened = db::run(&state.pool, move |conn| {
        let user = mfa::answer(conn, &keys, &arrival.actor, &challenge, &code)?;
        sessions::open_session(conn, &user, &arrival.context(None))
    })
    .await;
    match opened {
        Ok(new_session) => session_response(&state, new_session, &next),
        Err(error @ AppError::Unauthenticated(_)) => code_page(&req, &state, next, Some(error)),
        Err(other) => Err(other.into()),
    }
}

#[derive(Template)]
#[template(path = "mfa.html")]
struct MfaPage {
    nav: Nav,
    enabled: bool,
    required: bool,
    unused_codes: i64,
    key: String,
    qr_svg: String,
    recovery_codes: Option<Vec<String>>,
    error: Option<AppError>,
}

async fn mfa_page(
    signed_in: &SignedIn,
    state: &AppState,
    recovery_codes: Option<Vec<String>>,
    error: Option<AppError>,
) -> Result<HttpResponse, PageError> {
    let (user, keys) = (signed_in.user().clone(), state.keys.clone());
    let (enabled, required, unused_codes, key, qr_svg) = db::run(&state.pool, move |conn| {
        let fresh = super::accounts::find(conn, &user.username)?;
        let required = mfa::requirement(conn)?.applies_to(&fresh);
        if fresh.totp_enabled_at.is_some() {
            return Ok((true, required, mfa::unused_recovery_codes(conn, fresh.id)?, String::new(), String::new()));
        }
        let secret = mfa::begin(conn, &keys, &fresh)?;
        let svg = mfa::qr_svg(&mfa::provisioning_uri(&fresh, &secret))?;
        Ok((false, required, 0, mfa::base32(&secret), svg))
    })
    .await?;
    let status = status_for(error.as_ref());
    let page = MfaPage {
        nav: Nav::for_user(signed_in, "settings"),
        enabled,
        required,
        unused_codes,
        key,
        // The renderer writes an XML declaration before the picture, which HTML does not take.
        qr_svg: qr_svg.find("<svg").map_or(String::new(), |start| qr_svg[start..].to_owned()),
        recovery_codes,
        error,
    };
    Ok(render_with_status(&page, status)?)
}

/// `GET /settings/mfa`.
pub async fn settings(signed_in: SignedIn, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    mfa_page(&signed_in, &state, None, None).await
}

#[derive(Deserialize)]
pub struct SettingsForm {
    #[serde(default)]
    code: String,
    #[serde(default)]
    mfa_required: String,
}

/// `POST /settings/mfa/{action}`: confirm (turn on) or disable.
pub async fn change(
    form: CsrfForm<SettingsForm>,
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    let (actor, user, action) = (signed_in.actor.clone(), signed_in.user().clone(), path.into_inner());
    let keys = state.keys.clone();
    let done = db::run(&state.pool, move |conn| match action.as_str() {
        "confirm" => mfa::confirm(conn, &keys, &actor, &user, &data.code).map(Some),
        "disable" => {
            if mfa::requirement(conn)?.applies_to(&user) {
                return Err(AppError::conflict("code", "Your administrators require two-factor sign-in; it stays on."));
            }
            mfa::disable(conn, &keys, &actor, &user, &data.code).map(|()| None)
        }
        other => Err(AppError::not_found(format!("There is no two-factor action \"{other}\"."))),
    })
    .await;
    match done {
        Ok(Some(codes)) => mfa_page(&signed_in, &state, Some(codes), None).await,
        Ok(None) => Ok(redirect("/settings/mfa")),
        Err(error @ AppError::NotFound(_)) => Err(error.into()),
        Err(error) => mfa_page(&signed_in, &state, None, Some(error)).await,
    }
}

/// `POST /admin/settings/mfa`: who must use two-factor sign-in.
pub async fn set_requirement(
    form: CsrfForm<SettingsForm>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    authorize(signed_in.user(), Action::Administer)?;
    let actor = signed_in.actor.clone();
    db::run(&state.pool, move |conn| mfa::set_requirement(conn, &actor, Requirement::parse(&data.mfa_required)?))
        .await?;
    Ok(redirect("/admin/users"))
}
