//! Bearer service tokens: every call is scoped to the token's organisation.

use crate::domain::OrgId;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::AppState;
use super::error::ApiError;
use crate::storage::tokens;

fn bearer(header: &str) -> Option<&str> {
    header
        .strip_prefix("Bearer ")
        .or_else(|| header.strip_prefix("bearer "))
        .map(str::trim)
        .filter(|t| !t.is_empty() && t.len() <= 256)
}

/// The hash of the caller's token (already authenticated by `Org`), by which a
/// long-lived answer learns that its token was revoked.
pub fn token_hash(headers: &axum::http::HeaderMap) -> Vec<u8> {
    let token = headers
        .get(axum::http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(bearer)
        .unwrap_or_default();
    crate::storage::crypto::token_hash(token)
}

/// The organisation of the authenticated caller.
#[derive(Debug, Clone, Copy)]
pub struct Org(pub OrgId);

impl FromRequestParts<AppState> for Org {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Org, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or_else(ApiError::unauthenticated)?;
        let token = bearer(header).ok_or_else(ApiError::unauthenticated)?;
        match tokens::authenticate(&state.pool, token).await? {
            Some(org) => Ok(Org(org)),
            None => Err(ApiError::unauthenticated()),
        }
    }
}
