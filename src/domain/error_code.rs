//! Error codes of the public contract and the one place they map to HTTP statuses.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ErrorCode {
    InvalidRequestBody,
    DatasourceNameError,
    /// A sync by `input.datasourceId` with an id that is malformed or unknown.
    DatasourceIdError,
    AuthenticationError,
    DatasourceNotFound,
    JobNotFound,
    WebhookNotFound,
    PayloadTooLarge,
    TooManyRequests,
    CredentialTestFailed,
    SchemaCacheFailed,
    EgressDenied,
    ServiceUnavailable,
    InternalServerError,
}

impl ErrorCode {
    pub const ALL: [ErrorCode; 14] = [
        ErrorCode::InvalidRequestBody,
        ErrorCode::DatasourceNameError,
        ErrorCode::DatasourceIdError,
        ErrorCode::AuthenticationError,
        ErrorCode::DatasourceNotFound,
        ErrorCode::JobNotFound,
        ErrorCode::WebhookNotFound,
        ErrorCode::PayloadTooLarge,
        ErrorCode::TooManyRequests,
        ErrorCode::CredentialTestFailed,
        ErrorCode::SchemaCacheFailed,
        ErrorCode::EgressDenied,
        ErrorCode::ServiceUnavailable,
        ErrorCode::InternalServerError,
    ];

    pub fn http_status(self) -> u16 {
        match self {
            ErrorCode::InvalidRequestBody
            | ErrorCode::DatasourceNameError
            | ErrorCode::DatasourceIdError
            | ErrorCode::CredentialTestFailed
            | ErrorCode::EgressDenied => 400,
            ErrorCode::AuthenticationError => 401,
            ErrorCode::DatasourceNotFound | ErrorCode::JobNotFound | ErrorCode::WebhookNotFound => {
                404
            }
            ErrorCode::PayloadTooLarge => 413,
            ErrorCode::TooManyRequests => 429,
            ErrorCode::ServiceUnavailable => 503,
            ErrorCode::SchemaCacheFailed | ErrorCode::InternalServerError => 500,
        }
    }
}
