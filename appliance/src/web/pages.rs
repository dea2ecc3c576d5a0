//! What every page shares: the navigation bar's data and the way a template becomes a response.

use actix_web::http::header;
use actix_web::HttpResponse;
use askama::Template;

use super::extract::SignedIn;
use crate::errors::AppError;
use crate::identity::permissions::{authorize, Action};

/// The top bar: who is signed in (if anyone), the CSRF token for the sign-out button, and
/// which section is current.
pub struct Nav {
    pub user_name: Option<String>,
    pub csrf_token: String,
    pub section: &'static str,
    pub unread: i64,
    pub is_admin: bool,
    /// Auditors (and administrators) read the audit log.
    pub can_audit: bool,
    /// The license's banner, when it has something to say to this user.
    pub license_notice: Option<String>,
}

impl Nav {
    pub fn anonymous() -> Self {
        Self {
            user_name: None,
            csrf_token: String::new(),
            section: "",
            unread: 0,
            is_admin: false,
            can_audit: false,
            license_notice: None,
        }
    }

    pub fn for_user(signed_in: &SignedIn, section: &'static str) -> Self {
        Self {
            user_name: Some(signed_in.user().display_name.clone()),
            csrf_token: signed_in.session.csrf_token.clone(),
            section,
            unread: signed_in.session.unread_notifications,
            is_admin: signed_in.user().is_admin,
            can_audit: authorize(signed_in.user(), Action::ViewAuditLog).is_ok(),
            license_notice: signed_in.session.license_notice.clone(),
        }
    }
}

pub fn render(template: &impl Template) -> Result<HttpResponse, AppError> {
    render_with_status(template, actix_web::http::StatusCode::OK)
}

/// Pages show personal data: browsers may keep them for the back button but must revalidate.
pub fn render_with_status(
    template: &impl Template,
    status: actix_web::http::StatusCode,
) -> Result<HttpResponse, AppError> {
    let html = template.render().map_err(|e| AppError::internal(format!("template: {e}")))?;
    Ok(HttpResponse::build(status)
        .content_type("text/html; charset=utf-8")
        .insert_header((header::CACHE_CONTROL, "private, no-cache"))
        .body(html))
}

/// A page that shows a refused form answers with the refusal's status (422, 409, …).
pub fn status_for(error: Option<&AppError>) -> actix_web::http::StatusCode {
    error.map_or(actix_web::http::StatusCode::OK, AppError::status)
}

/// The sentence to show beside form field `field`, if the form's error is about it.
pub fn field_error(error: &Option<AppError>, field: &str) -> Option<String> {
    error.as_ref().filter(|e| e.field() == Some(field)).map(ToString::to_string)
}

pub fn redirect(to: &str) -> HttpResponse {
    HttpResponse::SeeOther().insert_header((header::LOCATION, to)).finish()
}

/// Percent-encodes a query-string value.
pub fn url_encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~/".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Only paths on this site are followed after sign-in: `//evil.example` and `https://…` are not.
pub fn local_path(next: Option<&str>) -> String {
    match next {
        Some(path) if path.starts_with('/') && !path.starts_with("//") && !path.contains('\\') => path.to_owned(),
        _ => "/".to_owned(),
    }
}

/// Formats a timestamp for pages: "2026-11-22 14:03".
pub fn when(at: impl Timestamp) -> String {
    at.timestamp().format("%Y-%m-%d %H:%M").to_string()
}

/// A timestamp by value or behind any number of references, as templates happen to hold it.
pub trait Timestamp {
    fn timestamp(&self) -> chrono::DateTime<chrono::Utc>;
}

impl Timestamp for chrono::DateTime<chrono::Utc> {
    fn timestamp(&self) -> chrono::DateTime<chrono::Utc> {
        *self
    }
}

impl<T: Timestamp + ?Sized> Timestamp for &T {
    fn timestamp(&self) -> chrono::DateTime<chrono::Utc> {
        (**self).timestamp()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_local_paths_are_followed() {
        assert_eq!(local_path(Some("/issues/OPS-1")), "/issues/OPS-1");
        assert_eq!(local_path(Some("//evil.example")), "/");
        assert_eq!(local_path(Some("https://evil.example")), "/");
        assert_eq!(local_path(Some("/\\evil.example")), "/");
        assert_eq!(local_path(None), "/");
    }
}
