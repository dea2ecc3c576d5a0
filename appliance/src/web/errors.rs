//! How an `AppError` reaches a person (an HTML page) or a program (a JSON body).

use actix_web::http::header;
use actix_web::{HttpResponse, ResponseError};
use askama::Template;

use crate::errors::AppError;

/// Errors of page handlers: rendered as an HTML page, or a redirect to sign-in.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    #[error("{0}")]
    App(#[from] AppError),
    #[error("sign-in required")]
    SignInFirst { next: String },
    /// Signed in, but a second factor is required and not yet set up.
    #[error("two-factor sign-in required")]
    EnrolSecondFactor,
    /// Signed in with a password an administrator set, which must be changed first.
    #[error("a new password is required")]
    ChangePasswordFirst,
}

/// Errors of API handlers: `{ "error": { "code", "message", "field"?, "error_id"? } }`.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ApiError(#[from] pub AppError);

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    nav: super::pages::Nav,
    status: u16,
    title: &'a str,
    message: String,
    error_id: Option<String>,
    request_id: Option<String>,
}

impl ResponseError for PageError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        match self {
            Self::App(error) => error.status(),
            Self::SignInFirst { .. } | Self::EnrolSecondFactor | Self::ChangePasswordFirst => {
                actix_web::http::StatusCode::SEE_OTHER
            }
        }
    }

    fn error_response(&self) -> HttpResponse {
        let error = match self {
            Self::SignInFirst { next } => {
                let target = format!("/login?next={}", super::pages::url_encode(next));
                return HttpResponse::SeeOther().insert_header((header::LOCATION, target)).finish();
            }
            Self::EnrolSecondFactor => {
                return HttpResponse::SeeOther().insert_header((header::LOCATION, "/settings/mfa")).finish();
            }
            Self::ChangePasswordFirst => {
                return HttpResponse::SeeOther().insert_header((header::LOCATION, "/settings/password")).finish();
            }
            Self::App(error) => error,
        };
        let error_id = error.log_hidden_cause();
        let status = error.status();
        let page = ErrorPage {
            nav: super::pages::Nav::anonymous(),
            status: status.as_u16(),
            title: status.canonical_reason().unwrap_or("Error"),
            message: error.to_string(),
            error_id,
            request_id: super::observe::request_id(),
        };
        let mut response = HttpResponse::build(status);
        if let Some(seconds) = error.retry_after() {
            response.insert_header((header::RETRY_AFTER, seconds));
        }
        match page.render() {
            Ok(html) => response.content_type("text/html; charset=utf-8").body(html),
            Err(e) => {
                tracing::error!(error = %e, "cannot render the error page");
                HttpResponse::build(status).content_type("text/plain; charset=utf-8").body(error.to_string())
            }
        }
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> actix_web::http::StatusCode {
        self.0.status()
    }

    fn error_response(&self) -> HttpResponse {
        let error = &self.0;
        let body = ErrorBody {
            error: ErrorDetail {
                error_id: error.log_hidden_cause(),
                code: error.code(),
                message: error.to_string(),
                field: error.field().map(str::to_owned),
                request_id: super::observe::request_id(),
            },
        };
        let mut response = HttpResponse::build(error.status());
        if matches!(error, AppError::Unauthenticated(_)) {
            response.insert_header((header::WWW_AUTHENTICATE, "Bearer"));
        }
        if let Some(seconds) = error.retry_after() {
            response.insert_header((header::RETRY_AFTER, seconds));
        }
        response.json(body)
    }
}

/// What every refused or failed API request answers with.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// A stable snake_case code: invalid_field, bad_request, unauthenticated, forbidden,
    /// not_found, method_not_allowed, conflict, precondition_failed, too_large, rate_limited,
    /// unavailable, internal.
    pub code: &'static str,
    /// The sentence a person reads.
    pub message: String,
    /// The input field the message is about, if one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// For internal errors: the id under which the cause was logged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error_id: Option<String>,
    /// The request's id, as its `X-Request-Id` response header and the server log say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
}

impl ErrorDetail {
    /// A refusal about one input field, for answers that carry more than the error (a bulk
    /// change's or an import's results per item).
    pub fn invalid(field: &str, message: &str) -> ErrorDetail {
        ErrorDetail {
            code: "invalid_field",
            message: message.to_owned(),
            field: Some(field.to_owned()),
            error_id: None,
            request_id: None,
        }
    }
}
