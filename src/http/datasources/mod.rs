//! The datasource routes: create, update, delete, sync, list, get, schema. How a
//! create's body is read (`multipart`), replayed (`idempotency`) and waited on
//! (`wait`) live beside them.

mod idempotency;
mod multipart;
pub mod schema_changes;
pub mod snapshot_read;
pub mod test_run;
mod wait;

use crate::domain::{DatasourceId, DatasourceName, JobId};
use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::Value;

use self::multipart::{check_upload, read_create_body};
use self::wait::{WaitQuery, accepted_response, finish_or_wait, hold, wait_seconds};
use super::AppState;
use super::answers::{
    Accepted, DatasourceList, DatasourceView, Deleted, ErrorBody, Pagination, WriteAnswers,
};
use super::auth::Org;
use super::error::ApiError;
use super::request::{ApiPath, ApiQuery, body_bytes, parse_datasource, parse_json_object};
use crate::connectors::FieldProblem;
use crate::domain::ErrorCode;
use crate::storage::datasources::{self, CreateOutcome, DatasourceRef, Submission};
use crate::telemetry::TraceParent;

/// The trace context the job message carries: this request's span.
fn trace_parent(headers: &HeaderMap) -> TraceParent {
    let incoming = headers.get("traceparent").and_then(|v| v.to_str().ok());
    crate::telemetry::trace_parent_of(&tracing::Span::current(), incoming)
}

/// A checked request as the storage layer takes it.
fn submission<'a>(
    request: &'a crate::http::request::DatasourceRequest,
    org: crate::domain::OrgId,
    (datasource_id, job_id): (DatasourceId, JobId),
    trace_parent: &'a str,
    upload: Option<&'a (String, Bytes)>,
) -> Submission<'a> {
    Submission {
        org_id: org,
        datasource_id,
        job_id,
        name: &request.name,
        datasource_type: request.datasource_type,
        credentials: &request.credentials,
        public_credentials: &request.public_credentials,
        tenancy: request.tenancy.as_ref(),
        defaults_used: &request.defaults_used,
        trace_parent: Some(trace_parent),
        upload: upload.map(|(n, b)| (n.as_str(), b.as_ref())),
    }
}

/// A create's body (JSON, or multipart with a file) read and checked as the API
/// checks one: its shape, the egress policy, the TLS minimum, the AWS role; and the
/// `?wait` it asks for, held (a wait is a stream: refused before anything is
/// recorded, not after). A test's body is checked the same way.
struct CreateBody {
    headers: HeaderMap,
    waiting: Option<wait::Wait>,
    request: crate::http::request::DatasourceRequest,
    upload: Option<(String, Bytes)>,
}

impl CreateBody {
    async fn read(
        state: &AppState,
        org: crate::domain::OrgId,
        q: &WaitQuery,
        http_request: axum::extract::Request,
    ) -> Result<CreateBody, ApiError> {
        let wait = wait_seconds(q)?;
        let headers = http_request.headers().clone();
        let waiting = hold(state, org, &headers, wait)?;
        let (json, upload) = read_create_body(state, http_request).await?;
        let request = parse_datasource(&json, &state.egress.policy)?
            .meets(state.settings.minimum_ssl_mode)?
            .aws_role_allowed(
                &crate::http::aws::external_id_for(&state.key, org),
                &state.settings.aws_denied_accounts,
            )?;
        check_upload(&request, upload.as_ref())?;
        Ok(CreateBody {
            headers,
            waiting,
            request,
            upload,
        })
    }
}

#[utoipa::path(
    post, path = "/api/v2/datasource", operation_id = "createDatasource",
    summary = "create a datasource and queue its test and discovery",
    params(
        WaitQuery,
        ("Idempotency-Key" = Option<String>, Header, nullable = false, min_length = 1, max_length = 255,
         description = "a replay with the same key and body answers as the first time"),
    ),
    responses(WriteAnswers)
)]
pub async fn create(
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
    let idempotency_key = idempotency::key(&headers)?;
    let request_hash = idempotency::fingerprint(&state.key, &request.canonical, upload.as_ref());
    let (datasource_id, job_id) = (DatasourceId::generate(), JobId::generate());
    let trace = trace_parent(&headers);
    let body = Accepted::new(request.name.as_str(), datasource_id, job_id);
    let trace_header = trace.header();
    let sub = submission(
        &request,
        org,
        (datasource_id, job_id),
        &trace_header,
        upload.as_ref(),
    );
    let idem = idempotency_key
        .as_deref()
        .map(|k| (k, request_hash.as_slice()));
    // Kept as the first answer for a replay of the same Idempotency-Key.
    let stored = serde_json::to_value(&body)
        .map_err(|e| ApiError::from(crate::storage::StoreError::Corrupt(e.to_string())))?;
    let outcome = datasources::create(
        &state.pool,
        &state.settings,
        &state.key,
        &sub,
        idem,
        &stored,
    )
    .await?;
    match outcome {
        CreateOutcome::Created => {
            tracing::info!(org_id = %org, datasource_id = %datasource_id, job_id = %job_id, trace_id = %trace.trace_id,
                datasource_type = request.datasource_type.as_str(), "datasource accepted");
            metrics::counter!("onramp_datasources_accepted_total").increment(1);
            finish_or_wait(&state, org, body, waiting).await
        }
        CreateOutcome::Replayed { status, body } => {
            // Every stored first answer is an `Accepted`; one that is not is answered
            // as it was stored.
            match serde_json::from_value::<Accepted>(body.clone()) {
                Ok(first) => finish_or_wait(&state, org, first, waiting).await,
                Err(_) => Ok((
                    StatusCode::from_u16(status).unwrap_or(StatusCode::ACCEPTED),
                    Json(body),
                )
                    .into_response()),
            }
        }
        CreateOutcome::KeyReused => Err(ApiError::invalid(
            "this Idempotency-Key was used before with a different request",
            vec![FieldProblem::new(
                "Idempotency-Key",
                "was used with a different body",
            )],
        )
        .with_hint("use a new key for a new request")),
        CreateOutcome::NameTaken => Err(ApiError::new(
            ErrorCode::DatasourceNameError,
            format!(
                "a datasource named {:?} already exists",
                request.name.as_str()
            ),
        )
        .with_hint("choose another name, or update the existing datasource with PUT")),
    }
}

#[utoipa::path(
    put,
    path = "/api/v2/datasource",
    operation_id = "updateDatasource",
    summary = "replace a datasource's settings; re-tests and re-caches",
    params(WaitQuery),
    responses(WriteAnswers)
)]
pub async fn update(
    State(state): State<AppState>,
    Org(org): Org,
    ApiQuery(q): ApiQuery<WaitQuery>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let waiting = hold(&state, org, &headers, wait_seconds(&q)?)?;
    let request = parse_datasource(
        &body_bytes(body, state.settings.body_limit_bytes)?,
        &state.egress.policy,
    )?
    .meets(state.settings.minimum_ssl_mode)?
    .aws_role_allowed(
        &crate::http::aws::external_id_for(&state.key, org),
        &state.settings.aws_denied_accounts,
    )?;
    let job_id = JobId::generate();
    let trace = trace_parent(&headers);
    let trace_header = trace.header();
    // The update finds the datasource's id by name.
    let sub = submission(
        &request,
        org,
        (DatasourceId::nil(), job_id),
        &trace_header,
        None,
    );
    match datasources::update(&state.pool, &state.settings, &state.key, &sub).await? {
        Some(id) => {
            finish_or_wait(
                &state,
                org,
                Accepted::new(request.name.as_str(), id, job_id),
                waiting,
            )
            .await
        }
        None => Err(name_unknown(request.name.as_str())),
    }
}

/// The name a lookup gives, if a datasource could bear it: names are validated at
/// create, so a lookup by any other name is answered as unknown without a query
/// (PostgreSQL refuses a NUL in text outright).
pub(super) fn could_exist(name: &str) -> Option<DatasourceName> {
    DatasourceName::parse(name).ok()
}

/// A name as echoed in an answer: no longer than any real name.
pub(super) fn shown(name: &str) -> String {
    name.chars().take(DatasourceName::MAX_CHARS).collect()
}

fn name_unknown(name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::DatasourceNameError,
        format!("no datasource named {:?} exists", shown(name)),
    )
    .with_hint("create it with POST first")
}

pub(super) fn not_found(name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::DatasourceNotFound,
        format!("no datasource named {:?}", shown(name)),
    )
}

/// Optional here so that a missing name gets the contract's error.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct DeleteQuery {
    #[param(required = true, value_type = String, min_length = 1, max_length = 128, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$")]
    datasource_name: Option<String>,
}

#[utoipa::path(
    delete, path = "/api/v2/datasource", operation_id = "deleteDatasource",
    summary = "delete a datasource and its cached schema",
    params(DeleteQuery),
    responses(
        (status = 200, description = "deleted", body = Deleted),
        (status = 400, description = "no name, or an unknown name", body = ErrorBody),
    )
)]
pub async fn delete(
    State(state): State<AppState>,
    Org(org): Org,
    ApiQuery(q): ApiQuery<DeleteQuery>,
) -> Result<Response, ApiError> {
    let Some(name) = q.datasource_name.filter(|n| !n.is_empty()) else {
        return Err(ApiError::invalid(
            "datasourceName is required",
            vec![FieldProblem::new("datasourceName", "is required")],
        ));
    };
    let Some(named) = could_exist(&name) else {
        return Err(name_unknown(&name));
    };
    match datasources::delete(&state.pool, &state.settings, &state.store, org, &named).await? {
        Some(id) => Ok(Json(Deleted {
            id,
            message: format!("datasource {name} deleted"),
        })
        .into_response()),
        None => Err(name_unknown(&name)),
    }
}

const MALFORMED_ID: &str = "must be a UUID";

/// Which datasource a sync names: by name, or by id when no name is given. A field
/// of the wrong kind is refused with its name, never passed over.
fn sync_target(body: &serde_json::Map<String, Value>) -> Result<DatasourceRef, ApiError> {
    let mut problems = Vec::new();
    let name = match body.get("datasourceName") {
        None => None,
        Some(Value::String(name)) if name.is_empty() => {
            problems.push(FieldProblem::new("datasourceName", "must not be empty"));
            None
        }
        Some(Value::String(name)) => Some(name.as_str()),
        Some(_) => {
            problems.push(FieldProblem::new("datasourceName", "must be a string"));
            None
        }
    };
    let id = match body.get("input") {
        None => None,
        Some(Value::Object(input)) => match input.get("datasourceId") {
            Some(Value::String(text)) => text
                .parse::<DatasourceId>()
                .map_err(|_| problems.push(FieldProblem::new("input.datasourceId", MALFORMED_ID)))
                .ok(),
            Some(_) => {
                problems.push(FieldProblem::new("input.datasourceId", "must be a string"));
                None
            }
            None => {
                problems.push(FieldProblem::new(
                    "input.datasourceId",
                    "is required in input",
                ));
                None
            }
        },
        Some(_) => {
            problems.push(FieldProblem::new("input", "must be an object"));
            None
        }
    };
    if !problems.is_empty() {
        let fields: Vec<&str> = problems.iter().map(|p| p.field.as_str()).collect();
        // An id that is no UUID, and nothing else wrong: DataBrain's code for it.
        let malformed_id = problems.len() == 1 && problems[0].problem == MALFORMED_ID;
        let mut error = ApiError::invalid(
            format!("invalid sync request: check {}", fields.join(", ")),
            problems,
        );
        if malformed_id {
            error.code = ErrorCode::DatasourceIdError;
        }
        return Err(error);
    }
    match (name, id) {
        (Some(name), _) => match could_exist(name) {
            Some(name) => Ok(DatasourceRef::Name(name)),
            None => Err(not_found(name)),
        },
        (None, Some(id)) => Ok(DatasourceRef::Id(id)),
        (None, None) => Err(ApiError::invalid(
            "give datasourceName, or input.datasourceId",
            vec![FieldProblem::new(
                "datasourceName",
                "is required unless input.datasourceId is given",
            )],
        )),
    }
}

#[utoipa::path(
    post, path = "/api/v2/datasource/sync", operation_id = "syncDatasource",
    summary = "re-discover a datasource",
    responses(
        (status = 202, description = "accepted: the job is recorded and queued", body = Accepted),
        (status = 400, description = "neither a name nor an id, a field of the wrong kind, or malformed json (INVALID_REQUEST_BODY); an input.datasourceId that is not a UUID or names no datasource (DATASOURCE_ID_ERROR)", body = ErrorBody),
        (status = 404, description = "unknown datasource name", body = ErrorBody),
        (status = 413, description = "the body is over body_limit_bytes", body = ErrorBody),
    )
)]
pub async fn sync(
    State(state): State<AppState>,
    Org(org): Org,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = parse_json_object(&body_bytes(body, state.settings.body_limit_bytes)?)?;
    let which = sync_target(&body)?;
    let (label, by_id) = match &which {
        DatasourceRef::Name(n) => (n.to_string(), false),
        DatasourceRef::Id(id) => (id.to_string(), true),
    };
    let job_id = JobId::generate();
    let trace = trace_parent(&headers);
    match datasources::sync(
        &state.pool,
        &state.settings,
        org,
        which,
        job_id,
        Some(&trace.header()),
    )
    .await?
    {
        Some((id, name)) => Ok(accepted_response(
            StatusCode::ACCEPTED,
            Accepted::new(&name, id, job_id),
        )),
        None if by_id => Err(ApiError::new(
            ErrorCode::DatasourceIdError,
            format!("no datasource has the id {label}"),
        )
        .with_hint("list the datasources (GET /api/v2/datasource) for their ids, or sync by datasourceName")),
        None => Err(not_found(&label)),
    }
}

/// Pages beyond this are refused: with 500 a page it is far more datasources than an
/// organisation has, and the offset stays well inside PostgreSQL's range.
const MAX_PAGE_NUMBER: i64 = 1_000_000;

/// A page number (from 1) and size (from 1 to `max_size`, 20 when absent), checked.
pub(crate) fn checked_page(
    number: Option<i64>,
    size: Option<i64>,
    max_size: i64,
) -> Result<(i64, i64), ApiError> {
    let mut problems = Vec::new();
    let page = number.unwrap_or(1);
    if !(1..=MAX_PAGE_NUMBER).contains(&page) {
        problems.push(FieldProblem::new(
            "pageNumber",
            format!("must be 1 to {MAX_PAGE_NUMBER}"),
        ));
    }
    let size = size.unwrap_or(20);
    if !(1..=max_size).contains(&size) {
        problems.push(FieldProblem::new(
            "pageSize",
            format!("must be 1 to {max_size}"),
        ));
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid("invalid pagination", problems));
    }
    Ok((page, size))
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ListQuery {
    is_pagination: Option<bool>,
    #[param(minimum = 1, maximum = 1_000_000)]
    page_number: Option<i64>,
    #[param(minimum = 1, maximum = 500)]
    page_size: Option<i64>,
}

#[utoipa::path(
    get, path = "/api/v2/datasource", operation_id = "listDatasources",
    summary = "list datasources",
    params(ListQuery),
    responses(
        (status = 200, description = "datasources without secrets", body = DatasourceList),
        (status = 400, description = "a page number or size out of range, or a malformed query", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Org(org): Org,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let paginate = q.is_pagination.unwrap_or(false);
    let (page, size) = checked_page(q.page_number, q.page_size, 500)?;
    let size = if paginate { size } else { 10_000 };
    let offset = if paginate { (page - 1) * size } else { 0 };
    let (rows, total) = datasources::list(&state.pool, org, size, offset).await?;
    let body = DatasourceList {
        data: rows.iter().map(DatasourceView::from).collect(),
        pagination: paginate.then_some(Pagination {
            page_number: page,
            page_size: size,
            total,
        }),
    };
    Ok(Json(body).into_response())
}

#[utoipa::path(
    get, path = "/api/v2/datasource/{name}", operation_id = "getDatasource",
    summary = "one datasource, without secrets",
    params(("name" = String, Path, min_length = 1, max_length = 128, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$")),
    responses(
        (status = 200, description = "the datasource", body = DatasourceView),
        (status = 404, description = "unknown datasource", body = ErrorBody),
    )
)]
pub async fn get(
    State(state): State<AppState>,
    Org(org): Org,
    ApiPath(name): ApiPath,
) -> Result<Response, ApiError> {
    get_named(&state, org, &name).await
}

/// `GET /api/v2/datasource/sync` and `/test`: the routes of those names take the
/// path before `{name}` does, so a datasource named `sync` or `test` is read here.
pub async fn get_literal(
    State(state): State<AppState>,
    Org(org): Org,
    uri: axum::http::Uri,
) -> Result<Response, ApiError> {
    let name = uri
        .path()
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_string();
    get_named(&state, org, &name).await
}

async fn get_named(
    state: &AppState,
    org: crate::domain::OrgId,
    name: &str,
) -> Result<Response, ApiError> {
    let Some(named) = could_exist(name) else {
        return Err(not_found(name));
    };
    match datasources::get(&state.pool, org, &named).await? {
        Some(r) => Ok(Json(DatasourceView::from(&r)).into_response()),
        None => Err(not_found(name)),
    }
}
