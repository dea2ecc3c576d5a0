//! Single sign-on with OpenID Connect: the authorization code flow with PKCE. A sign-in starts
//! here (state, nonce and verifier kept in `oidc_logins`), the provider sends the browser back
//! once with a code, and the code is exchanged for an ID token whose signature (the provider's
//! published keys), issuer, audience, expiry and nonce are all checked before anyone is let in.

use std::time::Duration as StdDuration;

use base64::Engine;
use chrono::{Duration, Utc};
use diesel::prelude::*;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{decode, decode_header, DecodingKey, Validation};
use serde::Deserialize;
use serde_json::Value;
use sha2::{Digest, Sha256};

use super::directory::{self, Person, Source};
use super::secrets::{digest, random_hex};
use super::users::User;
use crate::audit::Actor;
use crate::config::OidcConfig;
use crate::errors::AppError;
use crate::schema::oidc_logins;
use crate::web::pages::url_encode;

/// How long a browser may spend at the provider.
const SIGN_IN_MINUTES: i64 = 10;

#[derive(Deserialize)]
struct Discovery {
    issuer: String,
    authorization_endpoint: String,
    token_endpoint: String,
    jwks_uri: String,
}

#[derive(Deserialize)]
struct Tokens {
    id_token: String,
}

fn unreachable(config: &OidcConfig, error: impl std::fmt::Display) -> AppError {
    AppError::DirectoryUnavailable(format!("the single sign-on provider {} cannot be used: {error}", config.issuer))
}

fn refused() -> AppError {
    AppError::Unauthenticated(
        "That single sign-on answer is not valid here (too old, already used, or not ours); sign in again.".into(),
    )
}

fn agent(config: &OidcConfig) -> Result<ureq::Agent, AppError> {
    let tls = crate::tls::client_config(config.ca_file.as_deref())
        .map_err(|why| unreachable(config, format!("oidc.ca_file {why}")))?;
    Ok(ureq::AgentBuilder::new().tls_config(tls).timeout(StdDuration::from_secs(10)).redirects(0).build())
}

fn discover(config: &OidcConfig, agent: &ureq::Agent) -> Result<Discovery, AppError> {
    let url = format!("{}/.well-known/openid-configuration", config.issuer);
    let found: Discovery =
        agent.get(&url).call().map_err(|e| unreachable(config, e))?.into_json().map_err(|e| unreachable(config, e))?;
    if found.issuer.trim_end_matches('/') != config.issuer {
        return Err(unreachable(config, format!("its discovery document names another issuer, {}", found.issuer)));
    }
    Ok(found)
}

fn base64url(bytes: &[u8]) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Starts a sign-in: the provider's address to send the browser to.
pub fn begin(conn: &mut PgConnection, config: &OidcConfig, next: &str) -> Result<String, AppError> {
    crate::license::require(conn, crate::license::Feature::SingleSignOn)?;
    let agent = agent(config)?;
    let endpoints = discover(config, &agent)?;
    let (state, nonce, verifier) = (random_hex(32), random_hex(16), random_hex(32));
    diesel::delete(
        oidc_logins::table.filter(oidc_logins::created_at.lt(Utc::now() - Duration::minutes(SIGN_IN_MINUTES))),
    )
    .execute(conn)?;
    diesel::insert_into(oidc_logins::table)
        .values((
            oidc_logins::state_hash.eq(digest(&state)),
            oidc_logins::nonce.eq(&nonce),
            oidc_logins::verifier.eq(&verifier),
            oidc_logins::next.eq(next),
        ))
        .execute(conn)?;
    let challenge = base64url(&Sha256::digest(verifier.as_bytes()));
    Ok(format!(
        "{}?response_type=code&client_id={}&redirect_uri={}&scope={}&state={state}&nonce={nonce}&code_challenge={challenge}&code_challenge_method=S256",
        endpoints.authorization_endpoint,
        url_encode(&config.client_id),
        url_encode(&config.redirect_url),
        url_encode("openid profile email groups"),
    ))
}

/// Finishes a sign-in the provider sent back: the account to open a session for, and where to
/// go then. Each started sign-in is good once and for a few minutes.
pub fn finish(
    conn: &mut PgConnection,
    config: &OidcConfig,
    actor: &Actor,
    state: &str,
    code: &str,
) -> Result<(User, String), AppError> {
    let started: Option<(String, String, String, chrono::DateTime<Utc>)> =
        diesel::delete(oidc_logins::table.filter(oidc_logins::state_hash.eq(digest(state))))
            .returning((oidc_logins::nonce, oidc_logins::verifier, oidc_logins::next, oidc_logins::created_at))
            .get_result(conn)
            .optional()?;
    let Some((nonce, verifier, next, created_at)) = started else { return Err(refused()) };
    if Utc::now() - created_at > Duration::minutes(SIGN_IN_MINUTES) || code.is_empty() {
        return Err(refused());
    }
    let agent = agent(config)?;
    let endpoints = discover(config, &agent)?;
    let exchanged =
        agent.post(&endpoints.token_endpoint).set("Authorization", &format!("Basic {}", basic(config))).send_form(&[
            ("grant_type", "authorization_code"),
            ("code", code),
            ("redirect_uri", &config.redirect_url),
            ("code_verifier", &verifier),
        ]);
    let tokens: Tokens = match exchanged {
        Ok(response) => response.into_json().map_err(|e| unreachable(config, e))?,
        // The provider refused the code (used, expired, or the verifier does not match).
        Err(ureq::Error::Status(400..=499, _)) => return Err(refused()),
        Err(other) => return Err(unreachable(config, other)),
    };
    let keys: JwkSet = agent
        .get(&endpoints.jwks_uri)
        .call()
        .map_err(|e| unreachable(config, e))?
        .into_json()
        .map_err(|e| unreachable(config, e))?;
    let claims = verified_claims(config, &keys, &tokens.id_token, &nonce)?;
    let person = person_of(config, &claims)?;
    let source = Source {
        name: "oidc",
        admin_group: config.admin_group.as_deref(),
        auditor_group: config.auditor_group.as_deref(),
    };
    // The provider says only which groups this person is in: teams named like them are joined,
    // and the teams it once joined them to but no group names now are left.
    let user = directory::apply(conn, actor, &source, &person, &person.groups)?;
    Ok((user, next))
}

/// The client's credentials as HTTP Basic wants them (each part form-encoded first, RFC 6749).
fn basic(config: &OidcConfig) -> String {
    let pair = format!("{}:{}", url_encode(&config.client_id), url_encode(&config.client_secret));
    base64::engine::general_purpose::STANDARD.encode(pair)
}

/// The ID token's claims, once its signature, issuer, audience, expiry and nonce check out.
fn verified_claims(config: &OidcConfig, keys: &JwkSet, token: &str, nonce: &str) -> Result<Value, AppError> {
    let header = decode_header(token).map_err(|_| refused())?;
    let key = match &header.kid {
        Some(kid) => keys.find(kid),
        None => keys.keys.first(),
    }
    .ok_or_else(refused)?;
    let key = DecodingKey::from_jwk(key).map_err(|_| refused())?;
    let mut validation = Validation::new(header.alg);
    validation.set_issuer(&[&config.issuer]);
    validation.set_audience(&[&config.client_id]);
    validation.leeway = 60;
    let claims = decode::<Value>(token, &key, &validation).map_err(|_| refused())?.claims;
    if claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
        return Err(refused());
    }
    Ok(claims)
}

/// The person the claims describe, with a user name Outpost can hold.
fn person_of(config: &OidcConfig, claims: &Value) -> Result<Person, AppError> {
    let text = |name: &str| claims.get(name).and_then(Value::as_str).map(str::to_owned);
    let subject = text("sub").ok_or_else(refused)?;
    let wanted = text("preferred_username").unwrap_or_else(|| subject.clone()).to_lowercase();
    let username: String =
        wanted.chars().filter(|c| c.is_ascii_alphanumeric() || "._-".contains(*c)).take(32).collect();
    if username.len() < 2 || !username.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Err(AppError::invalid(
            "username",
            format!("The provider's name for you, “{wanted}”, cannot be a user name here."),
        ));
    }
    let groups = claims
        .get(&config.groups_claim)
        .and_then(Value::as_array)
        .map(|groups| groups.iter().filter_map(Value::as_str).map(str::to_owned).collect())
        .unwrap_or_default();
    Ok(Person {
        dn: subject,
        display_name: text("name").unwrap_or_else(|| username.clone()),
        email: text("email").unwrap_or_else(|| format!("{username}@sso.invalid")),
        username,
        groups,
    })
}
