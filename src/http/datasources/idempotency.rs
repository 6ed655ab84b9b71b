//! `Idempotency-Key`: the header's checks, and the fingerprint a replay must match.

use axum::body::Bytes;
use axum::http::HeaderMap;

use crate::connectors::FieldProblem;
use crate::http::error::ApiError;
use crate::storage::crypto::SecretKey;

/// The key a client sent, if any: 1 to 255 visible characters.
pub fn key(headers: &HeaderMap) -> Result<Option<String>, ApiError> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => match v.to_str() {
            Ok(k) if !k.is_empty() && k.len() <= 255 => Ok(Some(k.to_string())),
            _ => Err(ApiError::invalid(
                "Idempotency-Key must be 1 to 255 visible characters",
                vec![FieldProblem::new(
                    "Idempotency-Key",
                    "must be 1 to 255 visible characters",
                )],
            )),
        },
    }
}

/// The request's fingerprint, keyed with the server's secret: the body holds the
/// password, and a plain digest of it in the database could be tested against guesses.
pub fn fingerprint(key: &SecretKey, canonical: &[u8], upload: Option<&(String, Bytes)>) -> Vec<u8> {
    match upload {
        Some((_, file)) => key.fingerprint("idempotency", &[canonical, file]),
        None => key.fingerprint("idempotency", &[canonical]),
    }
}
