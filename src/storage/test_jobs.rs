//! Test jobs: a create body run as a job that records no datasource. Its inputs (the
//! sealed credentials among them) live in `test_inputs` only until the job ends; the
//! finished job is kept for `test_retention`, then swept.

use serde_json::{Map, Value};
use sqlx::{PgConnection, PgPool};

use super::crypto::SecretKey;
use super::datasources::Submission;
use super::{StoreError, outbox};
use crate::config::Settings;
use crate::domain::{DatasourceId, JobKind, JobMessage, JobStatus, OrgId, Step};

/// What a worker needs of a test job's body.
pub struct TestInput {
    pub datasource_type: String,
    pub tenancy_settings: Option<Value>,
    pub defaults_used: Vec<String>,
    pub upload: Option<(String, Vec<u8>)>,
    pub credentials: Map<String, Value>,
}

/// Bound into the ciphertext: a test's credentials open only as that test's, never
/// as a datasource's.
fn aad(org_id: OrgId, id: DatasourceId) -> Vec<u8> {
    format!("onramp:test:{org_id}:{id}").into_bytes()
}

/// Records the inputs, the job and its message in one transaction (`sub.datasource_id`
/// is a fresh id that names no datasource).
pub async fn create(
    pool: &PgPool,
    settings: &Settings,
    key: &SecretKey,
    sub: &Submission<'_>,
) -> Result<(), StoreError> {
    let plain = serde_json::to_vec(sub.credentials).expect("credentials serialise");
    let sealed = key.seal(&plain, &aad(sub.org_id, sub.datasource_id));
    let mut tx = pool.begin().await?;
    sqlx::query(
        "INSERT INTO test_inputs (datasource_id, job_id, org_id, datasource_type, credentials_sealed,
           public_config, tenancy_settings, defaults_used, upload_name, upload_content)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
    )
    .bind(sub.datasource_id)
    .bind(sub.job_id)
    .bind(sub.org_id)
    .bind(sub.datasource_type.as_str())
    .bind(sealed)
    .bind(Value::Object(sub.public_credentials.clone()))
    .bind(sub.tenancy)
    .bind(sub.defaults_used)
    .bind(sub.upload.map(|(name, _)| name))
    .bind(sub.upload.map(|(_, content)| content))
    .execute(&mut *tx)
    .await?;
    let steps = Step::pending_test(sub.credentials.contains_key("tunnel"));
    sqlx::query(
        "INSERT INTO jobs (id, org_id, datasource_id, datasource_name, kind, status, steps, trace_parent)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(sub.job_id)
    .bind(sub.org_id)
    .bind(sub.datasource_id)
    .bind(sub.name.as_str())
    .bind(JobKind::Test)
    .bind(JobStatus::Queued)
    .bind(serde_json::to_value(steps).expect("steps serialise"))
    .bind(sub.trace_parent)
    .execute(&mut *tx)
    .await?;
    let message = JobMessage {
        version: 1,
        job_id: sub.job_id,
        org_id: sub.org_id,
        datasource_id: sub.datasource_id,
        kind: JobKind::Test,
    };
    outbox::insert_job(&mut tx, settings, &message, sub.trace_parent).await?;
    tx.commit().await?;
    Ok(())
}

/// A test job's inputs with its credentials opened; `None` once the job has ended.
pub async fn load(
    pool: &PgPool,
    key: &SecretKey,
    org_id: OrgId,
    id: DatasourceId,
) -> Result<Option<TestInput>, StoreError> {
    type Row = (
        String,
        Vec<u8>,
        Option<Value>,
        Vec<String>,
        Option<String>,
        Option<Vec<u8>>,
    );
    let row: Option<Row> = sqlx::query_as(
        "SELECT datasource_type, credentials_sealed, tenancy_settings, defaults_used, upload_name, upload_content
           FROM test_inputs WHERE org_id = $1 AND datasource_id = $2",
    )
    .bind(org_id)
    .bind(id)
    .fetch_optional(pool)
    .await?;
    let Some((datasource_type, sealed, tenancy_settings, defaults_used, name, content)) = row
    else {
        return Ok(None);
    };
    let plain = key.open(&sealed, &aad(org_id, id))?;
    let credentials = serde_json::from_slice(&plain)
        .map_err(|e| StoreError::Corrupt(format!("credentials of test {id}: {e}")))?;
    Ok(Some(TestInput {
        datasource_type,
        tenancy_settings,
        defaults_used,
        upload: name.zip(content),
        credentials,
    }))
}

/// Removes a test's inputs, in the transaction that stores its outcome.
pub async fn forget(conn: &mut PgConnection, id: DatasourceId) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM test_inputs WHERE datasource_id = $1")
        .bind(id)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

/// The reconciler's part: test jobs past their retention, and the inputs of tests
/// that ended some other way (failed when their message was set aside) or whose job
/// is gone, once `after` has passed.
pub async fn sweep(conn: &mut PgConnection, after: std::time::Duration) -> Result<(), StoreError> {
    sqlx::query("DELETE FROM jobs WHERE expires_at < now()")
        .execute(&mut *conn)
        .await?;
    sqlx::query(
        "DELETE FROM test_inputs t WHERE t.created_at < now() - make_interval(secs => $1)
           AND NOT EXISTS (SELECT 1 FROM jobs j WHERE j.id = t.job_id AND j.status IN ('queued', 'running'))",
    )
    .bind(after.as_secs_f64())
    .execute(&mut *conn)
    .await?;
    Ok(())
}
