//! Request extractors: who is asking (a browser session or an API token), and their input
//! (a form with a valid CSRF token, or a JSON body), each refusing with a sentence.

use std::future::Future;
use std::pin::Pin;

use actix_web::dev::Payload;
use actix_web::http::header;
use actix_web::HttpMessage;
use actix_web::{web, FromRequest, HttpRequest};
use serde::de::DeserializeOwned;

use super::errors::{ApiError, PageError};
use super::rate_limit::Counted;
use super::AppState;
use crate::audit::Actor;
use crate::db;
use crate::errors::AppError;
use crate::identity::tokens::TokenScope;
use crate::identity::users::User;
use crate::identity::{secrets, sessions, tokens};

pub const SESSION_COOKIE: &str = "outpost_session";
/// The largest request body accepted, form or JSON: the longest text any field takes (a
/// 200,000-character page) in four-byte UTF-8, url-encoded or as JSON `\u` escapes (12 bytes a
/// character), still fits, so a valid request is never refused as too large.
const BODY_LIMIT: usize = 4 * 1024 * 1024;

type Boxed<T, E> = Pin<Box<dyn Future<Output = Result<T, E>>>>;

pub fn state(req: &HttpRequest) -> Result<web::Data<AppState>, AppError> {
    req.app_data::<web::Data<AppState>>().cloned().ok_or_else(|| AppError::internal("application state is missing"))
}

/// The client's address: the TCP peer, unless the peer is a configured trusted proxy, in
/// which case the nearest address in X-Forwarded-For that is not itself a trusted proxy.
/// Anyone can send that header, so it is believed only from those proxies.
pub fn client_ip(req: &HttpRequest) -> Option<String> {
    let peer = req.peer_addr()?.ip();
    let state = state(req).ok();
    let trusted: &[std::net::IpAddr] = state.as_ref().map_or(&[], |s| &s.config.server.trusted_proxies);
    if !trusted.contains(&peer) {
        return Some(peer.to_string());
    }
    let forwarded = req.headers().get_all("x-forwarded-for").filter_map(|value| value.to_str().ok());
    let hops: Vec<std::net::IpAddr> =
        forwarded.flat_map(|value| value.split(',')).filter_map(|hop| hop.trim().parse().ok()).collect();
    let client = hops.into_iter().rev().find(|hop| !trusted.contains(hop)).unwrap_or(peer);
    Some(client.to_string())
}

/// A signed-in browser user. Pages that need one redirect to sign-in without it.
pub struct SignedIn {
    pub session: sessions::Session,
    pub actor: Actor,
}

impl SignedIn {
    pub fn user(&self) -> &User {
        &self.session.user
    }

    /// The session, if the request carries a live one.
    pub async fn find(req: &HttpRequest) -> Result<Option<SignedIn>, AppError> {
        let Some(cookie) = req.cookie(SESSION_COOKIE) else {
            return Ok(None);
        };
        let state = state(req)?;
        let limits = state.config.session.clone();
        let token = cookie.value().to_owned();
        let session = db::run(&state.pool, move |conn| sessions::find_alive(conn, &limits, &token)).await?;
        Ok(session.map(|session| SignedIn { actor: Actor::user(session.user.id, client_ip(req)), session }))
    }

    /// The signed-in user of a page request, who must first enrol a second factor when the
    /// administrators require one: until then only that page and signing out are open.
    async fn for_page(req: &HttpRequest) -> Result<SignedIn, PageError> {
        let signed_in =
            SignedIn::find(req).await?.ok_or_else(|| PageError::SignInFirst { next: req.uri().to_string() })?;
        req.extensions_mut().insert(super::observe::CallerId(signed_in.user().id));
        let path = req.path();
        if signed_in.user().password_must_change && path != "/settings/password" && path != "/logout" {
            return Err(PageError::ChangePasswordFirst);
        }
        let open = path == "/settings/mfa" || path.starts_with("/settings/mfa/") || path == "/logout";
        if signed_in.session.second_factor_missing && !open {
            return Err(PageError::EnrolSecondFactor);
        }
        Ok(signed_in)
    }
}

impl FromRequest for SignedIn {
    type Error = PageError;
    type Future = Boxed<Self, Self::Error>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move { SignedIn::for_page(&req).await })
    }
}

/// A submitted form from a signed-in user whose CSRF token matches their session. Fields
/// are decoded only after the token is checked.
pub struct CsrfForm<T> {
    pub signed_in: SignedIn,
    pub data: T,
}

pub const CSRF_REFUSAL: &str =
    "The form's security token is missing or out of date, so nothing was changed. Reload the page and try again.";

/// A query parameter's value, trimmed; an empty one counts as absent, as forms send their
/// empty fields.
pub fn present(value: &Option<String>) -> Option<&str> {
    value.as_deref().map(str::trim).filter(|value| !value.is_empty())
}

/// A day given as a query parameter (YYYY-MM-DD), refused by name when it is not one.
pub fn date_param(field: &str, value: &Option<String>) -> Result<Option<chrono::NaiveDate>, AppError> {
    present(value)
        .map(|text| {
            chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map_err(|_| AppError::invalid(field, format!("“{text}” is not a date; write it as 2026-11-23.")))
        })
        .transpose()
}

/// Decodes a url-encoded body and checks its `csrf_token` against `expected`.
pub fn decode_form<T: DeserializeOwned>(body: &[u8], expected: &str) -> Result<T, AppError> {
    let pairs: Vec<(String, String)> = serde_urlencoded::from_bytes(body)
        .map_err(|e| AppError::bad_request(None, format!("The form could not be read: {e}.")))?;
    let token = pairs.iter().find(|(name, _)| name == "csrf_token").map(|(_, value)| value.as_str());
    if !token.is_some_and(|token| secrets::same(token, expected)) {
        return Err(AppError::forbidden(CSRF_REFUSAL));
    }
    if let Some((name, _)) = pairs.iter().find(|(name, value)| name.contains('\0') || value.contains('\0')) {
        return Err(AppError::invalid(name, "The form contains a NUL character; nothing was changed."));
    }
    serde_urlencoded::from_bytes(body)
        .map_err(|e| AppError::bad_request(None, format!("The form could not be read: {e}.")))
}

impl<T: DeserializeOwned + 'static> FromRequest for CsrfForm<T> {
    type Error = PageError;
    type Future = Boxed<Self, Self::Error>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let req = req.clone();
        let body = web::Bytes::from_request(&req, payload);
        Box::pin(async move {
            let signed_in = SignedIn::for_page(&req).await?;
            let body = body.await.map_err(|_| too_large("form"))?;
            let data = decode_form(&body, &signed_in.session.csrf_token)?;
            Ok(CsrfForm { signed_in, data })
        })
    }
}

fn too_large(what: &str) -> AppError {
    AppError::TooLarge(format!(
        "The {what} is larger than {} KiB, or was cut off; nothing was changed.",
        BODY_LIMIT / 1024
    ))
}

/// A caller of the JSON API, authenticated by a personal API token.
pub struct ApiCaller {
    pub user: User,
    pub actor: Actor,
}

impl FromRequest for ApiCaller {
    type Error = ApiError;
    type Future = Boxed<Self, Self::Error>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let req = req.clone();
        Box::pin(async move {
            let header = req.headers().get(header::AUTHORIZATION).and_then(|value| value.to_str().ok());
            let Some(secret) = header.and_then(|value| value.strip_prefix("Bearer ")) else {
                return Err(ApiError(AppError::Unauthenticated(
                    "Send a personal API token in the Authorization header: \"Bearer op_…\".".to_owned(),
                )));
            };
            let secret = secret.trim().to_owned();
            let state = state(&req)?;
            let address = client_ip(&req).unwrap_or_default();
            state.limits.refuse_if_full(Counted::FailedToken(address.clone()))?;
            state.limits.count(Counted::Address(address.clone()))?;
            let authenticated = db::run(&state.pool, move |conn| tokens::authenticate(conn, &secret)).await;
            let (user, scope) = match authenticated {
                Ok(found) => found,
                Err(error @ AppError::Unauthenticated(_)) => {
                    // Guessing tokens costs the guesser: counted, and refused once past the limit.
                    state.limits.count(Counted::FailedToken(address))?;
                    return Err(ApiError(error));
                }
                Err(other) => return Err(ApiError(other)),
            };
            req.extensions_mut().insert(super::observe::CallerId(user.id));
            state.limits.count(Counted::Account(user.id))?;
            let reads = matches!(*req.method(), actix_web::http::Method::GET | actix_web::http::Method::HEAD);
            if scope == TokenScope::Read && !reads {
                return Err(ApiError(AppError::forbidden(
                    "This token has the read scope: it may only read. Create a token with the write scope to make changes.",
                )));
            }
            Ok(ApiCaller { actor: Actor::user(user.id, client_ip(&req)), user: scope.narrow(user) })
        })
    }
}

/// A JSON request body; a malformed body or a wrong type is refused naming the field.
pub struct ApiJson<T>(pub T);

/// The path of the first string (or object key) in `value` holding a NUL character.
fn nul_in(value: &serde_json::Value, path: String) -> Option<String> {
    match value {
        serde_json::Value::String(text) if text.contains('\0') => Some(path),
        serde_json::Value::Array(items) => {
            items.iter().enumerate().find_map(|(index, item)| nul_in(item, format!("{path}[{index}]")))
        }
        serde_json::Value::Object(fields) => fields.iter().find_map(|(name, item)| {
            let here = if path.is_empty() { name.clone() } else { format!("{path}.{name}") };
            if name.contains('\0') {
                Some(here)
            } else {
                nul_in(item, here)
            }
        }),
        _ => None,
    }
}

/// JSON Schema counts `4.0` as an integer, and so do the clients it generates; serde does
/// not. Whole floats become integers before the body meets the typed input.
fn whole_numbers(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Number(number) if !number.is_i64() && !number.is_u64() => {
            // Up to 2^53 a float holds every whole number exactly (JSON Schema counts 2.0 as an
            // integer, and schemathesis sends -2^53 as -9007199254740992.0).
            if let Some(whole) = number.as_f64().filter(|f| f.fract() == 0.0 && f.abs() <= 9_007_199_254_740_992.0) {
                *value = serde_json::Value::from(whole as i64);
            }
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(whole_numbers),
        serde_json::Value::Object(fields) => fields.values_mut().for_each(whole_numbers),
        _ => {}
    }
}

pub fn decode_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, AppError> {
    match body.iter().find(|byte| !byte.is_ascii_whitespace()) {
        None => return Err(AppError::bad_request(None, "The request body is empty; send a JSON object.")),
        // serde reads a struct from an array too (field by position): every body here is an
        // object, so anything else is refused before it can be misread.
        Some(b'{') => {}
        Some(_) => return Err(AppError::bad_request(None, "The request body must be a JSON object.")),
    }
    let mut value: serde_json::Value = serde_json::from_slice(body)
        .map_err(|e| AppError::bad_request(None, format!("The request body is not valid JSON: {e}.")))?;
    // PostgreSQL text cannot hold NUL; refuse it here, naming the field, rather than fail later.
    if let Some(path) = nul_in(&value, String::new()) {
        return Err(AppError::invalid(&path, format!("Field \"{path}\" contains a NUL character.")));
    }
    whole_numbers(&mut value);
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if path == "." || path.is_empty() {
            AppError::bad_request(None, format!("The request body does not fit: {inner}."))
        } else {
            AppError::bad_request(Some(path.clone()), format!("Field \"{path}\": {inner}."))
        }
    })
}

impl<T: DeserializeOwned + 'static> FromRequest for ApiJson<T> {
    type Error = ApiError;
    type Future = Boxed<Self, Self::Error>;

    fn from_request(req: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let body = web::Bytes::from_request(req, payload);
        Box::pin(async move {
            let body = body.await.map_err(|_| ApiError(too_large("request body")))?;
            Ok(ApiJson(decode_json(&body)?))
        })
    }
}

/// Lets JSON inputs tell "absent" (leave it) from `null` (clear it).
pub fn explicit_null<'de, D, T>(deserializer: D) -> Result<Option<Option<T>>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: serde::Deserialize<'de>,
{
    serde::Deserialize::deserialize(deserializer).map(Some)
}

pub fn payload_config() -> web::PayloadConfig {
    web::PayloadConfig::new(BODY_LIMIT)
}

/// An API request's refusal as JSON, a page's as a page.
fn refusal(req: &HttpRequest, error: AppError) -> actix_web::Error {
    if req.path().starts_with("/api/") {
        ApiError(error).into()
    } else {
        PageError::App(error).into()
    }
}

/// A path segment that is not what the route expects (an id that is not a number) names
/// nothing that exists.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|error, req| {
        refusal(req, AppError::not_found(format!("There is nothing at {}: {error}.", req.path())))
    })
}

pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|error, req| {
        refusal(req, AppError::bad_request(None, format!("The query string could not be read: {error}.")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Deserialize, Debug)]
    struct Input {
        name: Option<String>,
        tags: Option<Vec<String>>,
    }

    #[test]
    fn bodies_must_be_objects_without_nul_characters() {
        let refused = |body: &str| decode_json::<Input>(body.as_bytes()).unwrap_err();
        assert_eq!(refused("[null, null]").to_string(), "The request body must be a JSON object.");
        assert_eq!(refused("  ").to_string(), "The request body is empty; send a JSON object.");
        let nul = refused(r#"{"tags": ["ok", "a\u0000b"]}"#);
        assert_eq!(nul.field(), Some("tags[1]"));
        let escaped = decode_json::<Input>(br#"{"name": "a\\u0000 is text", "tags": []}"#).unwrap();
        assert_eq!(escaped.name.as_deref(), Some("a\\u0000 is text"));
        assert_eq!(escaped.tags, Some(Vec::new()));
    }

    #[test]
    fn whole_floats_up_to_two_to_the_53_are_integers() {
        #[derive(serde::Deserialize, Debug)]
        struct Ids {
            ids: Vec<i64>,
        }
        let read = decode_json::<Ids>(br#"{"ids": [2.0, -9007199254740992.0, 9007199254740992.0]}"#).unwrap();
        assert_eq!(read.ids, [2, -9_007_199_254_740_992, 9_007_199_254_740_992]);
        for refused in [r#"{"ids": [2.5]}"#, r#"{"ids": [18014398509481984.0]}"#] {
            assert_eq!(decode_json::<Ids>(refused.as_bytes()).unwrap_err().field(), Some("ids[0]"), "{refused}");
        }
    }

    #[test]
    fn forms_with_nul_characters_are_refused_by_field() {
        let refused = decode_form::<std::collections::HashMap<String, String>>(b"csrf_token=t&name=a%00b", "t");
        assert_eq!(refused.unwrap_err().field(), Some("name"));
    }
}
