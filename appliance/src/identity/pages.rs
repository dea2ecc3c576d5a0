//! Sign-in, sign-out and personal API tokens, as pages.

use actix_web::cookie::{time::Duration as CookieDuration, Cookie, SameSite};
use actix_web::{web, HttpRequest, HttpResponse};
use askama::Template;
use serde::Deserialize;

use super::permissions::{authorize, Action};
use super::secrets;
use super::sessions::{self, NewSession, SignIn, SignInContext};
use super::tokens::{self, ApiToken, TokenScope};
use crate::audit::Actor;
use crate::config::LdapConfig;
use crate::db;
use crate::errors::AppError;
use crate::web::errors::PageError;
use crate::web::extract::{client_ip, decode_form, CsrfForm, SignedIn, SESSION_COOKIE};
use crate::web::pages::{local_path, redirect, render_with_status, status_for, Nav};
use crate::web::AppState;

/// Before sign-in there is no session to bind a CSRF token to, so the sign-in form uses a
/// double-submit cookie: the form's token must equal this cookie's.
pub const LOGIN_CSRF_COOKIE: &str = "outpost_login_csrf";
/// Between a right password and its second factor: the challenge's token.
pub const MFA_CHALLENGE_COOKIE: &str = "outpost_mfa";

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage {
    nav: Nav,
    csrf_token: String,
    username: String,
    next: String,
    error: Option<String>,
    /// The single sign-on button's words, when single sign-on is set up.
    sso_label: Option<String>,
}

#[derive(Deserialize)]
pub struct NextQuery {
    next: Option<String>,
}

pub fn cookie<'a>(name: &'a str, value: String, state: &AppState) -> Cookie<'a> {
    Cookie::build(name, value)
        .path("/")
        .http_only(true)
        .same_site(SameSite::Lax)
        .secure(state.config.server.secure_cookies())
        .finish()
}

/// The token a pre-sign-in page's form carries: the browser's cookie, or a new one.
pub struct LoginToken {
    pub value: String,
    is_new: bool,
}

impl LoginToken {
    pub fn of(req: &HttpRequest) -> LoginToken {
        match req.cookie(LOGIN_CSRF_COOKIE).map(|c| c.value().to_owned()).filter(|v| v.len() == 64) {
            Some(value) => LoginToken { value, is_new: false },
            None => LoginToken { value: secrets::random_hex(32), is_new: true },
        }
    }

    /// Hands a new token to the browser with the page that carries it.
    pub fn keep(self, response: &mut HttpResponse, state: &AppState) -> Result<(), AppError> {
        if self.is_new {
            response.add_cookie(&cookie(LOGIN_CSRF_COOKIE, self.value, state)).map_err(AppError::internal)?;
        }
        Ok(())
    }
}

/// What a sign-in request tells of where it comes from, to open a session with.
pub struct Arrival {
    pub actor: Actor,
    user_agent: Option<String>,
    previous_cookie: Option<String>,
}

impl Arrival {
    pub fn of(req: &HttpRequest) -> Arrival {
        Arrival {
            actor: Actor::anonymous(client_ip(req)),
            user_agent: req.headers().get("user-agent").and_then(|v| v.to_str().ok()).map(str::to_owned),
            previous_cookie: req.cookie(SESSION_COOKIE).map(|c| c.value().to_owned()),
        }
    }

    pub fn context<'a>(&'a self, directory: Option<&'a LdapConfig>) -> SignInContext<'a> {
        SignInContext {
            actor: &self.actor,
            user_agent: self.user_agent.as_deref(),
            previous_cookie: self.previous_cookie.as_deref(),
            directory,
        }
    }
}

/// Reads a pre-sign-in form, once its token matches the browser's cookie.
pub fn decode_login_form<T: serde::de::DeserializeOwned>(req: &HttpRequest, body: &[u8]) -> Result<T, AppError> {
    let expected = req.cookie(LOGIN_CSRF_COOKIE).map(|c| c.value().to_owned()).unwrap_or_default();
    if expected.is_empty() {
        return Err(AppError::forbidden(crate::web::extract::CSRF_REFUSAL));
    }
    decode_form(body, &expected)
}

fn login_page(
    req: &HttpRequest,
    state: &AppState,
    username: String,
    next: String,
    error: Option<AppError>,
) -> Result<HttpResponse, PageError> {
    let token = LoginToken::of(req);
    let status = status_for(error.as_ref());
    // A directory that cannot be reached is shown as a sentence; its cause goes to the log.
    let _ = error.as_ref().and_then(AppError::log_hidden_cause);
    let retry_after = error.as_ref().and_then(AppError::retry_after);
    let page = LoginPage {
        nav: Nav::anonymous(),
        csrf_token: token.value.clone(),
        username,
        sso_label: state.config.oidc.as_ref().map(|oidc| oidc.label.clone()),
        next,
        error: error.map(|e| e.to_string()),
    };
    let mut response = render_with_status(&page, status)?;
    if let Some(seconds) = retry_after {
        let value = actix_web::http::header::HeaderValue::from(seconds);
        response.headers_mut().insert(actix_web::http::header::RETRY_AFTER, value);
    }
    token.keep(&mut response, state)?;
    Ok(response)
}

pub async fn login_form(
    req: HttpRequest,
    state: web::Data<AppState>,
    query: web::Query<NextQuery>,
) -> Result<HttpResponse, PageError> {
    let next = local_path(query.next.as_deref());
    if SignedIn::find(&req).await?.is_some() {
        return Ok(redirect(&next));
    }
    login_page(&req, &state, String::new(), next, None)
}

#[derive(Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    username: String,
    #[serde(default)]
    password: String,
    next: Option<String>,
}

/// The signed-in answer: the new session's cookie, the pre-sign-in cookies gone, and on to `next`.
pub fn session_response(state: &AppState, new_session: NewSession, next: &str) -> Result<HttpResponse, PageError> {
    let mut response = redirect(next);
    let mut session_cookie = cookie(SESSION_COOKIE, new_session.cookie_token, state);
    session_cookie.set_max_age(CookieDuration::hours(state.config.session.absolute_timeout_hours));
    response.add_cookie(&session_cookie).map_err(AppError::internal)?;
    // The pre-sign-in tokens have served their purpose; the session brings its own.
    for name in [LOGIN_CSRF_COOKIE, MFA_CHALLENGE_COOKIE] {
        response.add_removal_cookie(&cookie(name, String::new(), state)).map_err(AppError::internal)?;
    }
    Ok(response)
}

/// The answer to a first factor given: signed in, or on to the code step with the challenge.
pub fn sign_in_response(state: &AppState, step: SignIn, next: &str) -> Result<HttpResponse, PageError> {
    match step {
        SignIn::Session(new_session) => session_response(state, new_session, next),
        SignIn::SecondFactor { challenge } => {
            let mut response = redirect(&format!("/login/code?next={}", crate::web::pages::url_encode(next)));
            let mut pending = cookie(MFA_CHALLENGE_COOKIE, challenge, state);
            pending.set_max_age(CookieDuration::minutes(5));
            response.add_cookie(&pending).map_err(AppError::internal)?;
            Ok(response)
        }
    }
}

pub async fn login(req: HttpRequest, state: web::Data<AppState>, body: web::Bytes) -> Result<HttpResponse, PageError> {
    let form: LoginForm = decode_login_form(&req, &body)?;
    let next = local_path(form.next.as_deref());
    let arrival = Arrival::of(&req);
    let (limits, directory) = (state.config.login.clone(), state.config.ldap.clone());
    let (username, password) = (form.username.clone(), form.password);
    let signed_in = db::run(&state.pool, move |conn| {
        sessions::sign_in(conn, &limits, &username, &password, &arrival.context(directory.as_ref()))
    })
    .await;
    match signed_in {
        Ok(step) => sign_in_response(&state, step, &next),
        Err(
            error @ (AppError::Unauthenticated(_)
            | AppError::Invalid { .. }
            | AppError::RateLimited { .. }
            | AppError::DirectoryUnavailable(_)
            | AppError::Forbidden(_)),
        ) => login_page(&req, &state, form.username, next, Some(error)),
        Err(other) => Err(other.into()),
    }
}

pub async fn logout(
    form: CsrfForm<std::collections::HashMap<String, String>>,
    state: web::Data<AppState>,
) -> Result<HttpResponse, PageError> {
    let (actor, session_id) = (form.signed_in.actor.clone(), form.signed_in.session.id);
    db::run(&state.pool, move |conn| sessions::sign_out(conn, &actor, session_id)).await?;
    let mut response = redirect("/login");
    response.add_removal_cookie(&cookie(SESSION_COOKIE, String::new(), &state)).map_err(AppError::internal)?;
    Ok(response)
}

#[derive(Template)]
#[template(path = "tokens.html")]
struct TokensPage {
    nav: Nav,
    tokens: Vec<ApiToken>,
    new_secret: Option<String>,
    name: String,
    expires_in_days: String,
    error: Option<AppError>,
}

async fn tokens_page(
    signed_in: &SignedIn,
    state: &AppState,
    new_secret: Option<String>,
    form: (String, String),
    error: Option<AppError>,
) -> Result<HttpResponse, PageError> {
    let user_id = signed_in.user().id;
    let tokens = db::run(&state.pool, move |conn| Ok(tokens::list_for_user(conn, user_id)?)).await?;
    let status = status_for(error.as_ref());
    let page = TokensPage {
        nav: Nav::for_user(signed_in, "settings"),
        tokens,
        new_secret,
        name: form.0,
        expires_in_days: form.1,
        error,
    };
    Ok(render_with_status(&page, status)?)
}

pub async fn tokens(signed_in: SignedIn, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    authorize(signed_in.user(), Action::ManageOwnTokens)?;
    tokens_page(&signed_in, &state, None, (String::new(), "90".to_owned()), None).await
}

#[derive(Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    expires_in_days: String,
    #[serde(default)]
    scope: String,
}

pub async fn create_token(form: CsrfForm<TokenForm>, state: web::Data<AppState>) -> Result<HttpResponse, PageError> {
    let CsrfForm { signed_in, data } = form;
    authorize(signed_in.user(), Action::ManageOwnTokens)?;
    let expires = match data.expires_in_days.trim() {
        "" | "never" => Ok(None),
        days => days
            .parse::<i64>()
            .map(Some)
            .map_err(|_| AppError::invalid("expires_in_days", "Expiry must be a number of days, or empty for never.")),
    };
    let (actor, owner, name) = (signed_in.actor.clone(), signed_in.user().clone(), data.name.clone());
    // A form from before scopes existed sends none: such tokens could write.
    let scope = match data.scope.trim() {
        "" => Ok(TokenScope::Write),
        text => TokenScope::parse(text),
    };
    let created = match expires.and_then(|expires| Ok((expires, scope?))) {
        Ok((expires, scope)) => {
            db::run(&state.pool, move |conn| tokens::create(conn, &actor, &owner, &name, scope, expires)).await
        }
        Err(error) => Err(error),
    };
    match created {
        // Shown on this response only: the secret is not stored and cannot be shown again.
        Ok((_, secret)) => tokens_page(&signed_in, &state, Some(secret), (String::new(), "90".to_owned()), None).await,
        Err(error @ AppError::Invalid { .. }) => {
            tokens_page(&signed_in, &state, None, (data.name, data.expires_in_days), Some(error)).await
        }
        Err(other) => Err(other.into()),
    }
}

pub async fn revoke_token(
    form: CsrfForm<std::collections::HashMap<String, String>>,
    state: web::Data<AppState>,
    path: web::Path<i64>,
) -> Result<HttpResponse, PageError> {
    let signed_in = form.signed_in;
    authorize(signed_in.user(), Action::ManageOwnTokens)?;
    let (actor, user_id, token_id) = (signed_in.actor.clone(), signed_in.user().id, path.into_inner());
    db::run(&state.pool, move |conn| tokens::revoke(conn, &actor, user_id, token_id)).await?;
    Ok(redirect("/settings/tokens"))
}
