//! The API's error answer, and the one place an error code becomes an HTTP status.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::answers::{ErrorBody, ErrorDetail};

use crate::connectors::FieldProblem;
use crate::domain::ErrorCode;
use crate::storage::StoreError;
use crate::storage::snapshots::CacheError;

#[derive(Debug)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    pub details: Vec<FieldProblem>,
    pub hint: Option<String>,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> ApiError {
        ApiError {
            code,
            message: message.into(),
            details: Vec::new(),
            hint: None,
        }
    }

    pub fn invalid(message: impl Into<String>, details: Vec<FieldProblem>) -> ApiError {
        ApiError {
            details,
            ..ApiError::new(ErrorCode::InvalidRequestBody, message)
        }
    }

    pub fn with_hint(mut self, hint: impl Into<String>) -> ApiError {
        self.hint = Some(hint.into());
        self
    }

    pub fn unauthenticated() -> ApiError {
        ApiError::new(ErrorCode::AuthenticationError, "a valid service token is required")
            .with_hint("send `Authorization: Bearer <token>`; create one with `onramp token create --org NAME`")
    }

    pub fn body(self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message,
                details: self.details,
                hint: self.hint,
            },
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.code.http_status()).expect("valid status");
        (status, Json(self.body())).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        if let StoreError::Cache(cache) = e {
            return cache.into();
        }
        if e.is_transient() {
            tracing::warn!(error = %e, "postgres unavailable");
            ApiError::new(
                ErrorCode::ServiceUnavailable,
                "storage is unavailable; nothing was recorded",
            )
            .with_hint("retry shortly")
        } else {
            ApiError::internal(format_args!("storage: {e}"))
        }
    }
}

impl ApiError {
    /// A fault of onramp's own: logged with an id the answer carries, nothing more.
    pub fn internal(why: impl std::fmt::Display) -> ApiError {
        let error_id = uuid::Uuid::now_v7();
        tracing::error!(error_id = %error_id, error = %why, "internal error");
        ApiError::new(
            ErrorCode::InternalServerError,
            format!("internal error (error id {error_id})"),
        )
    }
}

impl From<CacheError> for ApiError {
    fn from(e: CacheError) -> ApiError {
        if let CacheError::Framing(e) = e {
            return ApiError::internal(format_args!("stored snapshot: {e}"));
        }
        tracing::warn!(error = %e, "redis unavailable");
        ApiError::new(
            ErrorCode::ServiceUnavailable,
            "the schema cache is unavailable",
        )
        .with_hint("retry shortly")
    }
}
