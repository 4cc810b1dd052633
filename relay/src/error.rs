//! `AppError`: every failure of an API handler, rendered as `ApiError {code, message}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use vigil_wire::api::ApiError;

use crate::policy::Denied;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not logged in")]
    Unauthenticated,
    #[error("wrong username or password")]
    BadCredentials,
    #[error("too many failed attempts; try again in {0} seconds")]
    TooManyAttempts(u64),
    #[error("missing or wrong CSRF token")]
    Csrf,
    #[error("request origin refused")]
    Origin,
    #[error("not allowed")]
    Forbidden,
    #[error("only sessions started under an access request can be cancelled")]
    NotCancellable,
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    Conflict(String),
    #[error("the access request cannot be used: {0}")]
    RequestNotUsable(String),
    #[error("the session is not live")]
    NotLive,
    /// The user has a locked session on the asset (its name).
    #[error("Your session on {0} is locked. Please contact your administrator.")]
    SessionLocked(String),
    #[error(
        "the access request is already in use by a live session; end it before starting another"
    )]
    RequestInUse,
    /// A session cap: one user's, or the relay's in all.
    #[error("{0}")]
    SessionLimit(String),
    #[error("{0}")]
    Unsupported(String),
    /// The asset's stored credential does not open for it: sealed for another asset (a
    /// value copied between rows), tampered with, or under another key.
    #[error(
        "the stored credential of asset {0} cannot be opened for it (copied from another \
         asset, altered, or sealed under another key); an administrator must set it again"
    )]
    CredentialUnreadable(i64),
    /// `accept-host-key` named a fingerprint the target did not offer.
    #[error("{0}")]
    FingerprintNotOffered(String),
    #[error("expected Content-Type: application/json")]
    ContentType,
    #[error("this link does not exist")]
    LinkNotFound,
    #[error("this link has expired")]
    LinkExpired,
    #[error("this link has been revoked")]
    LinkRevoked,
    #[error("this link is not for you")]
    LinkNotForYou,
    #[error("the verification code is wrong or missing")]
    WrongCode,
    /// Too many wrong verification codes: the link refuses this user.
    #[error("too many wrong verification codes; this link no longer opens for you")]
    CodeAttemptsExhausted,
    /// The in-app replay of a session that is still live.
    #[error("the session is still live")]
    StillLive,
    /// Retention deleted the session's recording (its keystroke log with it).
    #[error("the recording was deleted by retention")]
    RecordingDeleted,
    #[error("database error")]
    Db(#[from] sqlx::Error),
    #[error("internal error: {0}")]
    Internal(String),
}

impl AppError {
    pub fn internal(e: impl std::fmt::Display) -> AppError {
        AppError::Internal(e.to_string())
    }

    pub(crate) fn status_and_code(&self) -> (StatusCode, &'static str) {
        match self {
            AppError::Unauthenticated => (StatusCode::UNAUTHORIZED, "unauthenticated"),
            AppError::BadCredentials => (StatusCode::UNAUTHORIZED, "bad_credentials"),
            AppError::TooManyAttempts(_) => (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"),
            AppError::Csrf => (StatusCode::FORBIDDEN, "csrf"),
            AppError::Origin => (StatusCode::FORBIDDEN, "origin"),
            AppError::Forbidden => (StatusCode::FORBIDDEN, "forbidden"),
            AppError::NotCancellable => (StatusCode::FORBIDDEN, "not_cancellable"),
            AppError::NotFound => (StatusCode::NOT_FOUND, "not_found"),
            AppError::BadRequest(_) => (StatusCode::BAD_REQUEST, "bad_request"),
            AppError::Conflict(_) => (StatusCode::CONFLICT, "conflict"),
            AppError::RequestNotUsable(_) => (StatusCode::FORBIDDEN, "request_not_usable"),
            AppError::NotLive => (StatusCode::CONFLICT, "not_live"),
            AppError::SessionLocked(_) => (StatusCode::FORBIDDEN, "session_locked"),
            AppError::RequestInUse => (StatusCode::CONFLICT, "request_in_use"),
            AppError::SessionLimit(_) => (StatusCode::TOO_MANY_REQUESTS, "session_limit"),
            AppError::Unsupported(_) => (StatusCode::BAD_REQUEST, "unsupported"),
            AppError::CredentialUnreadable(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "credential_unreadable")
            }
            AppError::FingerprintNotOffered(_) => (StatusCode::CONFLICT, "fingerprint_not_offered"),
            AppError::ContentType => (StatusCode::UNSUPPORTED_MEDIA_TYPE, "content_type"),
            AppError::LinkNotFound => (StatusCode::NOT_FOUND, "link_not_found"),
            AppError::LinkExpired => (StatusCode::GONE, "link_expired"),
            AppError::LinkRevoked => (StatusCode::GONE, "link_revoked"),
            AppError::LinkNotForYou => (StatusCode::FORBIDDEN, "link_not_for_you"),
            AppError::WrongCode => (StatusCode::FORBIDDEN, "wrong_code"),
            AppError::CodeAttemptsExhausted => (StatusCode::TOO_MANY_REQUESTS, "too_many_attempts"),
            AppError::StillLive => (StatusCode::CONFLICT, "still_live"),
            AppError::RecordingDeleted => (StatusCode::GONE, "recording_deleted"),
            AppError::Db(_) | AppError::Internal(_) => {
                (StatusCode::INTERNAL_SERVER_ERROR, "internal")
            }
        }
    }
}

impl From<Denied> for AppError {
    fn from(d: Denied) -> Self {
        match d {
            Denied::NotVisible => AppError::NotFound,
            Denied::Forbidden => AppError::Forbidden,
            Denied::NotCancellable => AppError::NotCancellable,
        }
    }
}

impl From<crate::service::target::TargetError> for AppError {
    fn from(e: crate::service::target::TargetError) -> Self {
        use crate::service::target::TargetError;
        match e {
            TargetError::NoCredential | TargetError::KeyForRdp => {
                AppError::BadRequest(e.to_string())
            }
            TargetError::Unreadable(asset) => AppError::CredentialUnreadable(asset),
            TargetError::Db(e) => AppError::Db(e),
        }
    }
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let (status, code) = self.status_and_code();
        let message = match &self {
            // Details of internal failures go to the log, not to the client.
            AppError::Db(e) => {
                tracing::error!(error = %e, "Database failure");
                "internal error".to_string()
            }
            AppError::Internal(e) => {
                tracing::error!(error = %e, "Internal failure");
                "internal error".to_string()
            }
            other => other.to_string(),
        };
        let mut resp = (
            status,
            Json(ApiError {
                code: code.into(),
                message,
            }),
        )
            .into_response();
        if let AppError::TooManyAttempts(secs) = self {
            if let Ok(v) = secs.to_string().parse() {
                resp.headers_mut()
                    .insert(axum::http::header::RETRY_AFTER, v);
            }
        }
        resp
    }
}

pub type AppResult<T> = Result<T, AppError>;
