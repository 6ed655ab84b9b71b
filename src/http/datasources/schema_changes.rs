//! `GET /api/v2/datasource/{name}/schema/changes`: the datasource's schema drift, one
//! diff per sync or update that changed something, newest first.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{checked_page, could_exist, not_found};
use crate::domain::JobId;
use crate::domain::schema_diff::{Change, DiffSummary};
use crate::http::AppState;
use crate::http::answers::{ErrorBody, Pagination};
use crate::http::auth::Org;
use crate::http::error::ApiError;
use crate::http::request::{ApiPath, ApiQuery};
use crate::storage::{datasources, schema_changes};

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct ChangesQuery {
    #[param(minimum = 1, maximum = 1_000_000)]
    page_number: Option<i64>,
    /// Diffs a page (each whole: a large one can be thousands of changes).
    #[param(minimum = 1, maximum = 100)]
    page_size: Option<i64>,
}

/// One diff: what a job's snapshot changed against the one it replaced.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SchemaChangeView {
    pub job_id: JobId,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub from_hash: String,
    pub to_hash: String,
    pub summary: DiffSummary,
    pub changes: Vec<Change>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SchemaChangeList {
    pub data: Vec<SchemaChangeView>,
    pub pagination: Pagination,
}

fn parsed<T: serde::de::DeserializeOwned>(value: Value) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(|e| {
        ApiError::from(crate::storage::StoreError::Corrupt(format!(
            "schema change: {e}"
        )))
    })
}

#[utoipa::path(
    get, path = "/api/v2/datasource/{name}/schema/changes", operation_id = "getSchemaChanges",
    summary = "the schema's drift: one diff per sync or update that changed it, newest first",
    params(
        ("name" = String, Path, min_length = 1, max_length = 128, pattern = "^[^\\u0000-\\u001f\\u007f-\\u009f]+$"),
        ChangesQuery,
    ),
    responses(
        (status = 200, description = "a page of diffs", body = SchemaChangeList),
        (status = 400, description = "a page number or size out of range", body = ErrorBody),
        (status = 404, description = "unknown datasource", body = ErrorBody),
    )
)]
pub async fn list(
    State(state): State<AppState>,
    Org(org): Org,
    ApiPath(name): ApiPath,
    ApiQuery(q): ApiQuery<ChangesQuery>,
) -> Result<Response, ApiError> {
    let (page, size) = checked_page(q.page_number, q.page_size, 100)?;
    let Some(named) = could_exist(&name) else {
        return Err(not_found(&name));
    };
    let Some(record) = datasources::get(&state.pool, org, &named).await? else {
        return Err(not_found(&name));
    };
    let (rows, total) =
        schema_changes::list(&state.pool, org, record.id, size, (page - 1) * size).await?;
    let mut data = Vec::with_capacity(rows.len());
    for r in rows {
        data.push(SchemaChangeView {
            job_id: r.job_id,
            created_at: r.created_at,
            from_hash: r.from_hash,
            to_hash: r.to_hash,
            summary: parsed(r.summary)?,
            changes: parsed(r.changes)?,
        });
    }
    let body = SchemaChangeList {
        data,
        pagination: Pagination {
            page_number: page,
            page_size: size,
            total,
        },
    };
    Ok(Json(body).into_response())
}
