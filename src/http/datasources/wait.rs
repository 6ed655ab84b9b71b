//! `?wait=N`: the answer held until the job ends, as one of the organisation's streams.

use crate::domain::OrgId;
use std::time::Duration;

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;

use crate::connectors::FieldProblem;
use crate::domain::{ErrorCode, JobStatus};
use crate::http::AppState;
use crate::http::answers::{Accepted, Waited};
use crate::http::error::ApiError;
use crate::storage::jobs;

/// Read as text so that a bad value gets the contract's error, documented as the
/// number it must be.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WaitQuery {
    /// Seconds to hold the answer until the job ends (0 answers at once).
    #[param(value_type = Option<u32>, minimum = 0, maximum = 60)]
    wait: Option<String>,
}

/// `?wait=N`: seconds to hold the answer, at most 60.
pub(super) fn wait_seconds(q: &WaitQuery) -> Result<Option<u64>, ApiError> {
    match q.wait.as_deref() {
        None => Ok(None),
        Some(w) => match w.parse::<u64>() {
            Ok(n) if n <= 60 => Ok((n > 0).then_some(n)),
            _ => Err(ApiError::invalid(
                "wait must be a whole number of seconds from 0 to 60",
                vec![FieldProblem::new("wait", "must be 0 to 60")],
            )),
        },
    }
}

pub(super) fn accepted_response(status: StatusCode, body: Accepted) -> Response {
    let location = body.links.job.clone();
    let mut response = (status, Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        response.headers_mut().insert(header::LOCATION, v);
    }
    response
}

/// A `?wait` that holds one of the organisation's streams.
pub(super) struct Wait {
    seconds: u64,
    permit: crate::http::streams::Permit,
}

pub(super) fn hold(
    state: &AppState,
    org: OrgId,
    headers: &HeaderMap,
    wait: Option<u64>,
) -> Result<Option<Wait>, ApiError> {
    let Some(seconds) = wait else {
        return Ok(None);
    };
    let permit = state
        .streams
        .open(org, crate::http::auth::token_hash(headers))?;
    Ok(Some(Wait { seconds, permit }))
}

/// Answers 202 at once, or holds the answer until the job ends (`?wait=N`). A wait
/// counts as one of the organisation's streams and is fed by the same poller.
pub(super) async fn finish_or_wait(
    state: &AppState,
    org: OrgId,
    body: Accepted,
    wait: Option<Wait>,
) -> Result<Response, ApiError> {
    let Some(Wait {
        seconds,
        mut permit,
    }) = wait
    else {
        return Ok(accepted_response(StatusCode::ACCEPTED, body));
    };
    let job_id = body.job_id;
    let mut watch = state.streams.watch(job_id);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
    loop {
        if let Some(job) = jobs::get(&state.pool, org, job_id).await? {
            let job = job.to_job()?;
            match job.status {
                JobStatus::Succeeded => {
                    let waited = Waited {
                        name: body.name,
                        job_id,
                        schema: job.schema,
                    };
                    return Ok((StatusCode::OK, Json(waited)).into_response());
                }
                JobStatus::Failed => {
                    let Some(e) = job.error else {
                        return Err(ApiError::new(
                            ErrorCode::InternalServerError,
                            "internal error",
                        ));
                    };
                    let mut err = ApiError::new(e.code, e.message);
                    err.hint = e.hint;
                    return Err(err);
                }
                _ => {}
            }
        }
        if tokio::time::Instant::now() >= deadline || state.stopping.is_cancelled() {
            return Ok(accepted_response(StatusCode::ACCEPTED, body));
        }
        tokio::select! {
            _ = watch.changed(Duration::from_secs(5)) => {}
            _ = tokio::time::sleep_until(deadline) => {}
            _ = permit.revoked() => return Ok(accepted_response(StatusCode::ACCEPTED, body)),
            _ = state.stopping.cancelled() => {}
        }
    }
}
