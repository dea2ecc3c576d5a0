//! Entity tags for the API's single objects. A tag is a digest of the JSON a GET answers, so
//! it changes exactly when what a client saw changes. GETs send it (and answer 304 to a
//! matching `If-None-Match`); updates take `If-Match` and refuse with 412 when the object
//! changed since the client read it, so two clients never silently overwrite each other.
//! Without `If-Match` an update applies as before.

use std::future::{ready, Ready};

use actix_web::http::header;
use actix_web::{dev::Payload, FromRequest, HttpRequest, HttpResponse};
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::errors::ApiError;
use crate::errors::AppError;

/// The strong tag of `body` as the API serialises it.
pub fn tag_of<T: Serialize>(body: &T) -> String {
    let json = serde_json::to_vec(body).unwrap_or_default();
    format!("\"{}\"", hex::encode(&Sha256::digest(&json)[..12]))
}

/// Whether a `If-Match`/`If-None-Match` list names `tag`; `weak` allows `W/` tags to match
/// (If-None-Match compares weakly, If-Match strongly).
fn listed(list: &str, tag: &str, weak: bool) -> bool {
    list.split(',')
        .map(str::trim)
        .any(|candidate| candidate == "*" || candidate == tag || (weak && candidate.strip_prefix("W/") == Some(tag)))
}

/// Whether an `If-Match` value is `*` or a list of entity tags (`"…"` or `W/"…"`).
fn well_formed(list: &str) -> bool {
    list == "*"
        || list.split(',').map(str::trim).all(|tag| {
            let quoted = tag.strip_prefix("W/").unwrap_or(tag);
            quoted.len() >= 2
                && quoted.starts_with('"')
                && quoted.ends_with('"')
                && !quoted[1..quoted.len() - 1].contains('"')
        })
}

/// 200 with `body` and its tag, or 304 when the client's `If-None-Match` already has it.
pub fn answer<T: Serialize>(req: &HttpRequest, body: &T) -> HttpResponse {
    let tag = tag_of(body);
    let seen = req.headers().get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok());
    if seen.is_some_and(|list| listed(list, &tag, true)) {
        return HttpResponse::NotModified().insert_header((header::ETAG, tag)).finish();
    }
    HttpResponse::Ok().insert_header((header::ETAG, tag)).json(body)
}

/// The `If-Match` header of an update, if the client sent one.
pub struct IfMatch(Option<String>);

impl IfMatch {
    /// What the object is before the update, when the client made the update conditional.
    /// `read` runs after the caller locked the object, so it cannot change until commit.
    pub fn before<T: Serialize>(&self, read: impl FnOnce() -> Result<T, AppError>) -> Result<Option<String>, AppError> {
        self.0.as_ref().map(|_| read().map(|current| tag_of(&current))).transpose()
    }

    /// Refuses with 412 when the client's tag is not `before` (from [`IfMatch::before`]).
    /// Called after the update has been checked and applied in the same transaction, so a
    /// request that is wrong in itself gets that refusal first, and a 412 rolls back.
    pub fn check(&self, before: Option<String>) -> Result<(), AppError> {
        match (&self.0, before) {
            // A value that names no tag matches no version: the update must not apply.
            (Some(list), Some(_)) if !well_formed(list) => Err(AppError::PreconditionFailed(
                "The If-Match header must be * or quoted ETags like \"3f2a…\", separated by commas; nothing was \
                 changed."
                    .to_owned(),
            )),
            (Some(list), Some(tag)) if !listed(list, &tag, false) => Err(AppError::PreconditionFailed(
                "The object changed since you read it (If-Match does not match its ETag); read it again and \
                 reapply your change."
                    .to_owned(),
            )),
            _ => Ok(()),
        }
    }
}

impl FromRequest for IfMatch {
    type Error = ApiError;
    type Future = Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let refused = |message: &str| ApiError(AppError::bad_request(Some("If-Match".to_owned()), message));
        let value = req.headers().get(header::IF_MATCH).map(|v| {
            v.to_str()
                .map(|text| text.trim().to_owned())
                .map_err(|_| refused("The If-Match header is not readable text."))
        });
        ready(value.transpose().map(IfMatch))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn if_match_compares_strongly_and_if_none_match_weakly() {
        let tag = tag_of(&serde_json::json!({ "title": "One" }));
        assert_ne!(tag, tag_of(&serde_json::json!({ "title": "Two" })));
        assert!(listed(&format!("\"x\", {tag}"), &tag, false));
        assert!(listed("*", &tag, false));
        assert!(!listed(&format!("W/{tag}"), &tag, false));
        assert!(listed(&format!("W/{tag}"), &tag, true));
        let stale = IfMatch(Some("\"old\"".to_owned()));
        let before = stale.before(|| Ok(serde_json::json!({}))).unwrap();
        assert_eq!(stale.check(before).unwrap_err().status().as_u16(), 412);
        assert!(well_formed("*") && well_formed(r#""a", W/"b""#));
        assert!(!well_formed("{}") && !well_formed(r#""a"b""#) && !well_formed(r#""a", *"#));
        let unconditional = IfMatch(None);
        assert_eq!(unconditional.before(|| Ok(serde_json::json!({}))).unwrap(), None);
        assert!(unconditional.check(None).is_ok());
        let garbled = IfMatch(Some("{}".to_owned()));
        let refusal = garbled.check(Some(tag.clone())).unwrap_err();
        assert!(refusal.to_string().starts_with("The If-Match header must be *"), "{refusal}");
    }
}
