//! Schema drift records: one diff per job that changed a datasource's schema,
//! written in the transaction that stores the job's outcome, read newest first.

use serde_json::Value;
use sqlx::{PgConnection, PgPool};

use super::StoreError;
use crate::domain::schema_diff::SchemaDiff;
use crate::domain::{DatasourceId, JobId, OrgId};

/// A stored diff as the API shows it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChangeRecord {
    pub job_id: JobId,
    pub from_hash: String,
    pub to_hash: String,
    pub summary: Value,
    pub changes: Value,
    pub created_at: chrono::DateTime<chrono::Utc>,
}

/// Records `diff` for the datasource, unless it was deleted meanwhile or this job's
/// diff is recorded already (a job finished again after a takeover).
pub async fn insert(
    conn: &mut PgConnection,
    org_id: OrgId,
    datasource_id: DatasourceId,
    job_id: JobId,
    diff: &SchemaDiff,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO schema_changes (org_id, datasource_id, job_id, from_hash, to_hash, summary, changes)
         SELECT $1, d.id, $3, $4, $5, $6, $7 FROM datasources d WHERE d.id = $2 AND d.org_id = $1
         ON CONFLICT (job_id) DO NOTHING",
    )
    .bind(org_id)
    .bind(datasource_id)
    .bind(job_id)
    .bind(&diff.from_hash)
    .bind(&diff.to_hash)
    .bind(serde_json::to_value(diff.summary).expect("a summary serialises"))
    .bind(serde_json::to_value(&diff.changes).expect("changes serialise"))
    .execute(&mut *conn)
    .await?;
    Ok(())
}

/// A page of a datasource's diffs, newest first, and how many there are.
pub async fn list(
    pool: &PgPool,
    org_id: OrgId,
    datasource_id: DatasourceId,
    limit: i64,
    offset: i64,
) -> Result<(Vec<ChangeRecord>, i64), StoreError> {
    let rows = sqlx::query_as(
        "SELECT job_id, from_hash, to_hash, summary, changes, created_at FROM schema_changes
          WHERE org_id = $1 AND datasource_id = $2 ORDER BY id DESC LIMIT $3 OFFSET $4",
    )
    .bind(org_id)
    .bind(datasource_id)
    .bind(limit)
    .bind(offset)
    .fetch_all(pool)
    .await?;
    let total: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM schema_changes WHERE org_id = $1 AND datasource_id = $2",
    )
    .bind(org_id)
    .bind(datasource_id)
    .fetch_one(pool)
    .await?;
    Ok((rows, total))
}
