//! `POST /api/v2/datasource/test`: a create body run as a job that saves nothing.
//! The API checks the body as a create's and records a job of kind `test`; a worker
//! runs validate → (tunnel) → connect → discover. No datasource is recorded, no
//! snapshot stored, no `datasource.*` event published; the job, with its schema
//! summary, is readable for `test_retention_seconds`.

use axum::extract::State;
use axum::response::Response;

use super::wait::{WaitQuery, finish_or_wait};
use super::{CreateBody, submission, trace_parent};
use crate::domain::{DatasourceId, JobId};
use crate::http::AppState;
use crate::http::answers::{Accepted, WriteAnswers};
use crate::http::auth::Org;
use crate::http::error::ApiError;
use crate::http::request::ApiQuery;
use crate::storage::test_jobs;

#[utoipa::path(
    post,
    path = "/api/v2/datasource/test",
    operation_id = "testDatasource",
    summary = "test a create body without saving it: validate, tunnel, connect and discover as a job of kind test",
    description = "Takes the body of a create (JSON, or multipart with a csv file). Records no datasource (the name need not be free), stores no snapshot and publishes no datasource event; the job and its schema summary stay readable at its location for test_retention_seconds. Idempotency-Key is not used: a test can be repeated.",
    params(WaitQuery),
    responses(WriteAnswers)
)]
pub async fn test(
    State(state): State<AppState>,
    Org(org): Org,
    ApiQuery(q): ApiQuery<WaitQuery>,
    http_request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let CreateBody {
        headers,
        waiting,
        request,
        upload,
    } = CreateBody::read(&state, org, &q, http_request).await?;
    let job_id = JobId::generate();
    let trace = trace_parent(&headers);
    let trace_header = trace.header();
    // A fresh datasource id that names no datasource: the key of the test's inputs.
    let sub = submission(
        &request,
        org,
        (DatasourceId::generate(), job_id),
        &trace_header,
        upload.as_ref(),
    );
    test_jobs::create(&state.pool, &state.settings, &state.key, &sub).await?;
    tracing::info!(org_id = %org, job_id = %job_id, trace_id = %trace.trace_id,
        datasource_type = request.datasource_type.as_str(), "datasource test accepted");
    metrics::counter!("onramp_datasource_tests_accepted_total").increment(1);
    finish_or_wait(
        &state,
        org,
        Accepted::test(request.name.as_str(), job_id),
        waiting,
    )
    .await
}
