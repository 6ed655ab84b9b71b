//! The datasource routes: create, update, delete, sync, list, get, schema. How a
//! create's body is read (`multipart`), replayed (`idempotency`) and waited on
//! (`wait`) live beside them.

mod idempotency;
mod multipart;
mod wait;

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use uuid::Uuid;

use self::multipart::{check_upload, read_create_body};
use self::wait::{WaitQuery, accepted_response, finish_or_wait, hold, wait_seconds};
use super::AppState;
use super::auth::Org;
use super::error::ApiError;
use super::request::{ApiPath, ApiQuery, body_bytes, parse_datasource, parse_json_object};
use crate::connectors::FieldProblem;
use crate::domain::ErrorCode;
use crate::storage::datasources::{
    self, CreateOutcome, DatasourceRecord, DatasourceRef, Submission,
};
use crate::telemetry::TraceParent;

/// The trace context the job message carries: this request's span.
fn trace_parent(headers: &HeaderMap) -> TraceParent {
    let incoming = headers.get("traceparent").and_then(|v| v.to_str().ok());
    crate::telemetry::trace_parent_of(&tracing::Span::current(), incoming)
}

fn accepted(name: &str, datasource_id: Uuid, job_id: Uuid) -> Value {
    json!({
        "name": name,
        "datasourceId": datasource_id,
        "jobId": job_id,
        "status": "queued",
        "links": {"job": format!("/api/v2/jobs/{job_id}"), "events": format!("/api/v2/jobs/{job_id}/events")},
    })
}

pub async fn create(
    State(state): State<AppState>,
    Org(org): Org,
    ApiQuery(q): ApiQuery<WaitQuery>,
    http_request: axum::extract::Request,
) -> Result<Response, ApiError> {
    let wait = wait_seconds(&q)?;
    let headers = http_request.headers().clone();
    // A wait is a stream: refused before anything is recorded, not after.
    let waiting = hold(&state, org, &headers, wait)?;
    let (json, upload) = read_create_body(&state, http_request).await?;
    let request = parse_datasource(&json, &state.egress.policy)?;
    check_upload(&request, upload.as_ref())?;
    let idempotency_key = idempotency::key(&headers)?;
    let request_hash = idempotency::fingerprint(&state.key, &request.canonical, upload.as_ref());
    let (datasource_id, job_id) = (Uuid::now_v7(), Uuid::now_v7());
    let trace = trace_parent(&headers);
    let body = accepted(&request.name, datasource_id, job_id);
    let sub = Submission {
        org_id: org,
        datasource_id,
        job_id,
        name: &request.name,
        datasource_type: request.datasource_type,
        credentials: &request.credentials,
        tenancy: request.tenancy.as_ref(),
        defaults_used: &request.defaults_used,
        trace_parent: Some(&trace.header()),
        upload: upload.as_ref().map(|(n, b)| (n.as_str(), b.as_ref())),
    };
    let idem = idempotency_key
        .as_deref()
        .map(|k| (k, request_hash.as_slice()));
    let outcome =
        datasources::create(&state.pool, &state.settings, &state.key, &sub, idem, &body).await?;
    match outcome {
        CreateOutcome::Created => {
            tracing::info!(org_id = %org, datasource_id = %datasource_id, job_id = %job_id, trace_id = %trace.trace_id,
                datasource_type = request.datasource_type.as_str(), "datasource accepted");
            metrics::counter!("onramp_datasources_accepted_total").increment(1);
            finish_or_wait(&state, org, job_id, &request.name, body, waiting).await
        }
        CreateOutcome::Replayed { status, body } => {
            let job_id = body["jobId"].as_str().and_then(|s| Uuid::parse_str(s).ok());
            match job_id {
                Some(job_id) => {
                    finish_or_wait(&state, org, job_id, &request.name, body, waiting).await
                }
                None => Ok(accepted_response(
                    StatusCode::from_u16(status).unwrap_or(StatusCode::ACCEPTED),
                    body,
                )),
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
            format!("a datasource named {:?} already exists", request.name),
        )
        .with_hint("choose another name, or update the existing datasource with PUT")),
    }
}

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
    )?;
    let job_id = Uuid::now_v7();
    let trace = trace_parent(&headers);
    let sub = Submission {
        org_id: org,
        datasource_id: Uuid::nil(),
        job_id,
        name: &request.name,
        datasource_type: request.datasource_type,
        credentials: &request.credentials,
        tenancy: request.tenancy.as_ref(),
        defaults_used: &request.defaults_used,
        trace_parent: Some(&trace.header()),
        upload: None,
    };
    match datasources::update(&state.pool, &state.settings, &state.key, &sub).await? {
        Some(id) => {
            finish_or_wait(
                &state,
                org,
                job_id,
                &request.name,
                accepted(&request.name, id, job_id),
                waiting,
            )
            .await
        }
        None => Err(name_unknown(&request.name)),
    }
}

/// Whether a datasource could bear this name: names are validated at create (no
/// control characters, at most 128 characters), so a lookup by any other name is
/// answered as unknown without a query (PostgreSQL refuses a NUL in text outright).
fn could_exist(name: &str) -> bool {
    !name.is_empty() && name.chars().count() <= 128 && !name.chars().any(char::is_control)
}

/// A name as echoed in an answer: no longer than any real name.
fn shown(name: &str) -> String {
    name.chars().take(128).collect()
}

fn name_unknown(name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::DatasourceNameError,
        format!("no datasource named {:?} exists", shown(name)),
    )
    .with_hint("create it with POST first")
}

fn not_found(name: &str) -> ApiError {
    ApiError::new(
        ErrorCode::DatasourceNotFound,
        format!("no datasource named {:?}", shown(name)),
    )
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeleteQuery {
    datasource_name: Option<String>,
}

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
    if !could_exist(&name) {
        return Err(name_unknown(&name));
    }
    match datasources::delete(&state.pool, &state.settings, &state.store, org, &name).await? {
        Some(id) => Ok(
            Json(json!({"id": id, "message": format!("datasource {name} deleted")}))
                .into_response(),
        ),
        None => Err(name_unknown(&name)),
    }
}

pub async fn sync(
    State(state): State<AppState>,
    Org(org): Org,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Result<Response, ApiError> {
    let body = parse_json_object(&body_bytes(body, state.settings.body_limit_bytes)?)?;
    let by_id = body
        .get("input")
        .and_then(|i| i.get("datasourceId"))
        .and_then(Value::as_str);
    let which = match (body.get("datasourceName").and_then(Value::as_str), by_id) {
        (Some(name), _) if !could_exist(name) && !name.is_empty() => {
            return Err(not_found(name));
        }
        (Some(name), _) if !name.is_empty() => DatasourceRef::Name(name),
        (_, Some(id)) => match Uuid::parse_str(id) {
            Ok(id) => DatasourceRef::Id(id),
            Err(_) => {
                return Err(ApiError::new(
                    ErrorCode::DatasourceNotFound,
                    "no datasource with that id",
                ));
            }
        },
        _ => {
            return Err(ApiError::invalid(
                "give datasourceName, or input.datasourceId",
                vec![FieldProblem::new(
                    "datasourceName",
                    "is required unless input.datasourceId is given",
                )],
            ));
        }
    };
    let label = match &which {
        DatasourceRef::Name(n) => n.to_string(),
        DatasourceRef::Id(id) => id.to_string(),
    };
    let job_id = Uuid::now_v7();
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
            accepted(&name, id, job_id),
        )),
        None => Err(not_found(&label)),
    }
}

fn view(r: &DatasourceRecord) -> Value {
    json!({
        "name": r.name,
        "datasourceId": r.id,
        "datasourceType": r.datasource_type,
        "status": r.status,
        "credentials": r.public_config,
        "tenancySettings": r.tenancy_settings,
        "schema": r.schema_summary,
        "lastJobId": r.last_job_id,
        "createdAt": r.created_at,
        "updatedAt": r.updated_at,
    })
}

/// Pages beyond this are refused: with 500 a page it is far more datasources than an
/// organisation has, and the offset stays well inside PostgreSQL's range.
const MAX_PAGE_NUMBER: i64 = 1_000_000;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ListQuery {
    is_pagination: Option<bool>,
    page_number: Option<i64>,
    page_size: Option<i64>,
}

pub async fn list(
    State(state): State<AppState>,
    Org(org): Org,
    ApiQuery(q): ApiQuery<ListQuery>,
) -> Result<Response, ApiError> {
    let paginate = q.is_pagination.unwrap_or(false);
    let mut problems = Vec::new();
    let page = q.page_number.unwrap_or(1);
    if !(1..=MAX_PAGE_NUMBER).contains(&page) {
        problems.push(FieldProblem::new(
            "pageNumber",
            format!("must be 1 to {MAX_PAGE_NUMBER}"),
        ));
    }
    let size = q.page_size.unwrap_or(20);
    if !(1..=500).contains(&size) {
        problems.push(FieldProblem::new("pageSize", "must be 1 to 500"));
    }
    if !problems.is_empty() {
        return Err(ApiError::invalid("invalid pagination", problems));
    }
    let size = if paginate { size } else { 10_000 };
    let offset = if paginate { (page - 1) * size } else { 0 };
    let (rows, total) = datasources::list(&state.pool, org, size, offset).await?;
    let data: Vec<Value> = rows.iter().map(view).collect();
    let mut body = json!({ "data": data });
    if paginate {
        body["pagination"] = json!({"pageNumber": page, "pageSize": size, "total": total});
    }
    Ok(Json(body).into_response())
}

pub async fn get(
    State(state): State<AppState>,
    Org(org): Org,
    ApiPath(name): ApiPath,
) -> Result<Response, ApiError> {
    if !could_exist(&name) {
        return Err(not_found(&name));
    }
    match datasources::get(&state.pool, org, &name).await? {
        Some(r) => Ok(Json(view(&r)).into_response()),
        None => Err(not_found(&name)),
    }
}

pub async fn schema(
    State(state): State<AppState>,
    Org(org): Org,
    ApiPath(name): ApiPath,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    if !could_exist(&name) {
        return Err(not_found(&name));
    }
    let Some(record) = datasources::get(&state.pool, org, &name).await? else {
        return Err(not_found(&name));
    };
    let Some((body, meta)) = state.store.get(org, record.id).await? else {
        return Err(ApiError::new(
            ErrorCode::DatasourceNotFound,
            format!("datasource {name:?} has no cached schema yet"),
        )
        .with_hint("wait for its job to succeed, or run a sync"));
    };
    let etag = format!("\"{}\"", meta.hash);
    let matches = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if matches {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, "application/json")], body).into_response()
    };
    if let Ok(v) = HeaderValue::from_str(&etag) {
        response.headers_mut().insert(header::ETAG, v);
    }
    response
        .headers_mut()
        .insert("x-schema-version", HeaderValue::from(meta.version));
    Ok(response)
}
