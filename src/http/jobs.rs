//! `/api/v2/jobs/{id}` and its Server-Sent Events stream.

use std::convert::Infallible;

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::Stream;

use super::AppState;
use super::answers::{ErrorBody, JobEvent};
use super::auth::Org;
use super::error::ApiError;
use crate::domain::{ErrorCode, Job, JobId, OrgId};
use crate::storage::jobs;

fn job_not_found() -> ApiError {
    ApiError::new(ErrorCode::JobNotFound, "no such job")
}

async fn load(state: &AppState, org: OrgId, id: &str) -> Result<Job, ApiError> {
    let id: JobId = id.parse().map_err(|_| job_not_found())?;
    match jobs::get(&state.pool, org, id).await? {
        Some(row) => Ok(row.to_job()?),
        None => Err(job_not_found()),
    }
}

#[utoipa::path(
    get, path = "/api/v2/jobs/{jobId}", operation_id = "getJob",
    summary = "a job's state and steps",
    params(("jobId" = String, Path, description = "the job id a create, update or sync answered with")),
    responses(
        (status = 200, description = "the job", body = Job),
        (status = 404, description = "unknown job", body = ErrorBody),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Org(org): Org,
    super::request::ApiPath(id): super::request::ApiPath,
) -> Result<Response, ApiError> {
    Ok(Json(load(&state, org, &id).await?).into_response())
}

/// Streams the job each time it changes (`event: job`), ending after its final
/// state, after `stream_max_seconds` (the client reconnects), when the token is
/// revoked, or when the process stops.
#[utoipa::path(
    get, path = "/api/v2/jobs/{jobId}/events", operation_id = "jobEvents",
    summary = "Server-Sent Events of a job, closing after its final state (or after stream_max_seconds, or when the token is revoked)",
    params(("jobId" = String, Path, description = "the job id a create, update or sync answered with")),
    responses(
        (status = 200, description = "event stream: each event `job` carries the job as JSON in its data",
         content_type = "text/event-stream", body = JobEvent),
        (status = 404, description = "unknown job", body = ErrorBody),
        (status = 429, description = "the organisation holds its limit of open streams", body = ErrorBody),
    )
)]
pub async fn events(
    State(state): State<AppState>,
    Org(org): Org,
    headers: axum::http::HeaderMap,
    super::request::ApiPath(id): super::request::ApiPath,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let first = load(&state, org, &id).await?;
    let permit = state.streams.open(org, super::auth::token_hash(&headers))?;
    let watch = state.streams.watch(first.job_id);
    let deadline = tokio::time::Instant::now() + state.streams.max_duration;
    let job_id = first.job_id;
    let stream = futures::stream::unfold(
        (state, Some(first), None::<String>, false, permit, watch),
        move |(state, pending, last, done, mut permit, mut watch)| async move {
            if done {
                return None;
            }
            let mut pending = pending;
            loop {
                let job = match pending.take() {
                    Some(job) => job,
                    None => {
                        tokio::select! {
                            // One poller for every stream tells of a change; a slow
                            // look every few seconds covers a change it missed.
                            _ = watch.changed(Duration::from_secs(5)) => {}
                            _ = tokio::time::sleep_until(deadline) => return None,
                            _ = permit.revoked() => return None,
                            // The process is stopping: end the stream; the client reconnects.
                            _ = state.stopping.cancelled() => return None,
                        }
                        match jobs::get(&state.pool, org, job_id).await {
                            Ok(Some(row)) => match row.to_job() {
                                Ok(job) => job,
                                Err(_) => return None,
                            },
                            Ok(None) => return None,
                            // A passing storage fault: keep the stream open and look again.
                            Err(_) => continue,
                        }
                    }
                };
                let Ok(text) = serde_json::to_string(&job) else {
                    return None;
                };
                if last.as_deref() == Some(text.as_str()) {
                    continue;
                }
                let is_final = job.status.is_final();
                let event = Event::default()
                    .event("job")
                    .id(format!(
                        "{}",
                        job.steps.iter().filter(|s| s.duration_ms.is_some()).count()
                    ))
                    .data(text.clone());
                return Some((
                    Ok(event),
                    (state, None, Some(text), is_final, permit, watch),
                ));
            }
        },
    );
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}
