//! The one error type that domain code returns and the web edge renders.
//!
//! Policy: every variant carries the sentence a user reads; causes that a user must not see
//! (database errors, I/O) are kept in `Internal`/`Unavailable` and only logged, under an error
//! id that the user is shown. Pages and the JSON API render the same `AppError` differently
//! (see `web::errors`).

use actix_web::http::StatusCode;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    /// Input that was understood but breaks a rule (a too-long title, an unknown status).
    #[error("{message}")]
    Invalid { field: Option<String>, message: String },
    /// Input that could not be understood at all (malformed JSON, a wrong type).
    #[error("{message}")]
    BadRequest { field: Option<String>, message: String },
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{message}")]
    Conflict { field: Option<String>, message: String },
    /// The object changed since the client read it (its `If-Match` tag is stale).
    #[error("{0}")]
    PreconditionFailed(String),
    #[error("{0}")]
    TooLarge(String),
    /// Too many attempts or requests; `retry_after` seconds until they are allowed again.
    #[error("{message}")]
    RateLimited { message: String, retry_after: u64 },
    /// A dependency (the database) cannot be reached; the cause is logged, not shown.
    #[error("The database is unavailable; try again in a moment.")]
    Unavailable(String),
    /// The object store cannot be reached or refuses Outpost; the cause is logged, not shown.
    #[error("The file storage is unavailable, so nothing was saved; try again in a moment.")]
    StorageUnavailable(String),
    /// The LDAP directory cannot be reached or refuses Outpost's account; the cause is logged.
    #[error("The sign-in directory cannot be reached, so the password could not be checked; try again in a moment or tell an administrator.")]
    DirectoryUnavailable(String),
    /// The customer-managed key cannot be used (revoked, unreachable HSM); the cause is logged.
    #[error(
        "The customer-managed encryption key cannot be used, so this cannot be read or saved; tell an administrator."
    )]
    KeysUnavailable(String),
    /// The search index is being built or cannot be opened; the sentence says which.
    #[error("{0}")]
    SearchUnavailable(String),
    /// A bug or an unexpected failure; the cause is logged, not shown.
    #[error("Something went wrong on our side.")]
    Internal(String),
}

impl AppError {
    pub fn invalid(field: &str, message: impl Into<String>) -> Self {
        Self::Invalid { field: Some(field.to_owned()), message: message.into() }
    }

    pub fn bad_request(field: Option<String>, message: impl Into<String>) -> Self {
        Self::BadRequest { field, message: message.into() }
    }

    pub fn conflict(field: &str, message: impl Into<String>) -> Self {
        Self::Conflict { field: Some(field.to_owned()), message: message.into() }
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::NotFound(message.into())
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::Forbidden(message.into())
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            Self::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            Self::BadRequest { .. } => StatusCode::BAD_REQUEST,
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PreconditionFailed(_) => StatusCode::PRECONDITION_FAILED,
            Self::TooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Unavailable(_)
            | Self::StorageUnavailable(_)
            | Self::SearchUnavailable(_)
            | Self::DirectoryUnavailable(_)
            | Self::KeysUnavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// A stable snake_case code that API clients can match on.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Invalid { .. } => "invalid_field",
            Self::BadRequest { .. } => "bad_request",
            Self::Unauthenticated(_) => "unauthenticated",
            Self::Forbidden(_) => "forbidden",
            Self::NotFound(_) => "not_found",
            Self::Conflict { .. } => "conflict",
            Self::PreconditionFailed(_) => "precondition_failed",
            Self::TooLarge(_) => "too_large",
            Self::RateLimited { .. } => "rate_limited",
            Self::Unavailable(_) => "unavailable",
            Self::StorageUnavailable(_) => "storage_unavailable",
            Self::DirectoryUnavailable(_) => "directory_unavailable",
            Self::KeysUnavailable(_) => "keys_unavailable",
            Self::SearchUnavailable(_) => "search_unavailable",
            Self::Internal(_) => "internal",
        }
    }

    /// For a rate limit: the seconds to send as `Retry-After`.
    pub fn retry_after(&self) -> Option<u64> {
        match self {
            Self::RateLimited { retry_after, .. } => Some(*retry_after),
            _ => None,
        }
    }

    pub fn field(&self) -> Option<&str> {
        match self {
            Self::Invalid { field, .. } | Self::BadRequest { field, .. } | Self::Conflict { field, .. } => {
                field.as_deref()
            }
            _ => None,
        }
    }

    /// The whole story for an operator at the command line: the hidden cause where there is
    /// one, the sentence otherwise.
    pub fn for_operator(&self) -> String {
        match self {
            Self::Internal(cause)
            | Self::Unavailable(cause)
            | Self::StorageUnavailable(cause)
            | Self::DirectoryUnavailable(cause)
            | Self::KeysUnavailable(cause) => cause.clone(),
            other => other.to_string(),
        }
    }

    /// Logs what the user must not see and returns the error id they are shown, for the
    /// variants that hide a cause; `None` for the rest.
    pub fn log_hidden_cause(&self) -> Option<String> {
        let cause = match self {
            Self::Internal(cause)
            | Self::Unavailable(cause)
            | Self::StorageUnavailable(cause)
            | Self::DirectoryUnavailable(cause)
            | Self::KeysUnavailable(cause) => cause,
            _ => return None,
        };
        // The request's own id when there is one, so the page, the API error, the response
        // header and the log line all name the same thing.
        let error_id = crate::web::observe::request_id().unwrap_or_else(|| hex::encode(rand::random::<[u8; 6]>()));
        tracing::error!(error_id = %error_id, code = self.code(), %cause, "request failed");
        Some(error_id)
    }
}

impl From<diesel::result::Error> for AppError {
    fn from(error: diesel::result::Error) -> Self {
        match error {
            diesel::result::Error::NotFound => Self::not_found("Not found."),
            other => Self::Internal(format!("database: {other}")),
        }
    }
}

impl From<crate::storage::StorageError> for AppError {
    fn from(error: crate::storage::StorageError) -> Self {
        use crate::storage::StorageError;
        match error {
            StorageError::NotFound(what) => Self::not_found(format!("The file's contents are missing ({what}).")),
            StorageError::TooLarge { limit } => {
                Self::TooLarge(format!("The file is larger than the limit of {} MiB.", limit / (1024 * 1024)))
            }
            other => Self::StorageUnavailable(other.to_string()),
        }
    }
}

impl From<diesel::r2d2::PoolError> for AppError {
    fn from(error: diesel::r2d2::PoolError) -> Self {
        Self::Unavailable(format!("database pool: {error}"))
    }
}
