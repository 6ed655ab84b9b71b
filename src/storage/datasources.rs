//! Datasource records. Every change that needs a job writes the record, the job and
//! the job's outbox message in one transaction: a 202 means all three are durable.

use serde_json::{Map, Value};
use sqlx::{PgConnection, PgPool, Row};

use super::crypto::SecretKey;
use super::snapshots::SnapshotStore;
use super::{StoreError, outbox};
use crate::config::Settings;
use crate::domain::events::{CloudEvent, DATASOURCE_DELETED};
use crate::domain::{
    DatasourceId, DatasourceName, DatasourceStatus, DatasourceType, JobId, JobKind, JobMessage,
    JobStatus, OrgId, Step,
};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DatasourceRecord {
    pub id: DatasourceId,
    pub org_id: OrgId,
    pub name: String,
    pub datasource_type: String,
    pub public_config: Value,
    pub tenancy_settings: Option<Value>,
    pub status: DatasourceStatus,
    pub schema_summary: Option<Value>,
    pub last_job_id: Option<JobId>,
    pub defaults_used: Vec<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

const COLUMNS: &str = "id, org_id, name, datasource_type, public_config, tenancy_settings, status, schema_summary, last_job_id, defaults_used, created_at, updated_at";

/// What the API hands over for a create or an update.
pub struct Submission<'a> {
    pub org_id: OrgId,
    pub datasource_id: DatasourceId,
    pub job_id: JobId,
    pub name: &'a DatasourceName,
    pub datasource_type: DatasourceType,
    /// Normalised credentials, secrets included; sealed before they are stored.
    pub credentials: &'a Map<String, Value>,
    /// The same without their secret fields: what the API shows.
    pub public_credentials: &'a Map<String, Value>,
    pub tenancy: Option<&'a Value>,
    pub defaults_used: &'a [String],
    pub trace_parent: Option<&'a str>,
    /// A file uploaded with the request (csv): its name and content.
    pub upload: Option<(&'a str, &'a [u8])>,
}

pub enum CreateOutcome {
    Created,
    NameTaken,
    /// The idempotency key was seen before with the same request: its first answer.
    Replayed {
        status: u16,
        body: Value,
    },
    /// The idempotency key was seen before with a different request.
    KeyReused,
}

/// The additional data bound into the ciphertext: it only opens in its own row.
fn aad(org_id: OrgId, datasource_id: DatasourceId) -> Vec<u8> {
    format!("onramp:datasource:{org_id}:{datasource_id}").into_bytes()
}

pub async fn create(
    pool: &PgPool,
    settings: &Settings,
    key: &SecretKey,
    sub: &Submission<'_>,
    idempotency: Option<(&str, &[u8])>,
    response: &Value,
) -> Result<CreateOutcome, StoreError> {
    if idempotency.is_none() && sub.upload.is_none() {
        return create_in_one_statement(pool, settings, key, sub).await;
    }
    let mut tx = pool.begin().await?;
    if let Some((idem_key, request_hash)) = idempotency {
        // A concurrent request with the same key waits here until the first commits.
        let fresh = sqlx::query(
            "INSERT INTO idempotency_keys (org_id, key, request_hash, status_code, response)
             VALUES ($1, $2, $3, 202, $4) ON CONFLICT DO NOTHING",
        )
        .bind(sub.org_id)
        .bind(idem_key)
        .bind(request_hash)
        .bind(response)
        .execute(&mut *tx)
        .await?
        .rows_affected()
            == 1;
        if !fresh {
            let (hash, status, body): (Vec<u8>, i32, Value) = sqlx::query_as(
                "SELECT request_hash, status_code, response FROM idempotency_keys WHERE org_id = $1 AND key = $2",
            )
            .bind(sub.org_id)
            .bind(idem_key)
            .fetch_one(&mut *tx)
            .await?;
            return Ok(if hash == request_hash {
                CreateOutcome::Replayed {
                    status: status as u16,
                    body,
                }
            } else {
                CreateOutcome::KeyReused
            });
        }
    }
    let sealed = seal(key, sub, sub.datasource_id)?;
    let inserted = bind_datasource(sqlx::query(INSERT_DATASOURCE), sub, sealed)
        .execute(&mut *tx)
        .await?
        .rows_affected();
    if inserted == 0 {
        return Ok(CreateOutcome::NameTaken);
    }
    if let Some((file_name, content)) = sub.upload {
        sqlx::query("INSERT INTO uploads (datasource_id, org_id, file_name, content) VALUES ($1, $2, $3, $4)")
            .bind(sub.datasource_id)
            .bind(sub.org_id)
            .bind(file_name)
            .bind(content)
            .execute(&mut *tx)
            .await?;
    }
    insert_job(
        &mut tx,
        settings,
        sub.org_id,
        sub.datasource_id,
        sub.name.as_str(),
        sub.job_id,
        JobKind::Create,
        sub.trace_parent,
    )
    .await?;
    tx.commit().await?;
    Ok(CreateOutcome::Created)
}

/// A submission's datasource row, `$1` to `$9` (`bind_datasource`); the name taken
/// inserts nothing.
const INSERT_DATASOURCE: &str = "INSERT INTO datasources (id, org_id, name, datasource_type, credentials_sealed, public_config, tenancy_settings, status, last_job_id, defaults_used)
     VALUES ($1, $2, $3, $4, $5, $6, $7, 'pending', $8, $9) ON CONFLICT (org_id, name) DO NOTHING";

fn bind_datasource<'q>(
    query: sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>,
    sub: &Submission<'q>,
    sealed: Vec<u8>,
) -> sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments> {
    query
        .bind(sub.datasource_id)
        .bind(sub.org_id)
        .bind(sub.name)
        .bind(sub.datasource_type.as_str())
        .bind(sealed)
        .bind(public_config(sub))
        .bind(sub.tenancy)
        .bind(sub.job_id)
        .bind(sub.defaults_used)
}

/// The common create (no idempotency key, no upload) as one statement: the
/// datasource, its job and the job's outbox message are written together, and the
/// relay is woken, in one round trip and one commit instead of seven round trips.
async fn create_in_one_statement(
    pool: &PgPool,
    settings: &Settings,
    key: &SecretKey,
    sub: &Submission<'_>,
) -> Result<CreateOutcome, StoreError> {
    let sealed = seal(key, sub, sub.datasource_id)?;
    let message = JobMessage {
        version: 1,
        job_id: sub.job_id,
        org_id: sub.org_id,
        datasource_id: sub.datasource_id,
        kind: JobKind::Create,
    };
    let headers = match sub.trace_parent {
        Some(tp) => serde_json::json!({"traceparent": tp}),
        None => serde_json::json!({}),
    };
    let sql = format!(
        "WITH ds AS ({INSERT_DATASOURCE} RETURNING id
         ), job AS (
           INSERT INTO jobs (id, org_id, datasource_id, datasource_name, kind, status, steps, trace_parent)
           SELECT $8, $2, id, $3, $10, $11, $12, $13 FROM ds RETURNING id
         ), queued AS (
           INSERT INTO outbox (exchange, routing_key, payload, headers, job_id, gated)
           SELECT $14, $15, $16, $17, id, true FROM job RETURNING id
         )
         SELECT count(*) FROM (SELECT pg_notify($18, '') FROM queued) AS woken"
    );
    // Safe: the text is built from constants only; every value is bound.
    let created: i64 = bind_datasource(sqlx::query(sqlx::AssertSqlSafe(sql)), sub, sealed)
        .bind(JobKind::Create)
        .bind(JobStatus::Queued)
        .bind(
            serde_json::to_value(Step::pending_for(sub.credentials.contains_key("tunnel")))
                .expect("steps serialise"),
        )
        .bind(sub.trace_parent)
        .bind(settings.jobs_exchange())
        .bind(crate::domain::JOB_ROUTING_KEY)
        .bind(serde_json::to_value(&message).expect("job message serialises"))
        .bind(headers)
        .bind(super::OUTBOX_CHANNEL)
        .fetch_one(pool)
        .await?
        .try_get(0)?;
    Ok(if created == 1 {
        CreateOutcome::Created
    } else {
        CreateOutcome::NameTaken
    })
}

/// Replaces a datasource's settings and queues a re-test; `None` when the name is unknown.
pub async fn update(
    pool: &PgPool,
    settings: &Settings,
    key: &SecretKey,
    sub: &Submission<'_>,
) -> Result<Option<DatasourceId>, StoreError> {
    let mut tx = pool.begin().await?;
    let id: Option<DatasourceId> =
        sqlx::query_scalar("SELECT id FROM datasources WHERE org_id = $1 AND name = $2 FOR UPDATE")
            .bind(sub.org_id)
            .bind(sub.name)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(id) = id else {
        return Ok(None);
    };
    let sealed = seal(key, sub, id)?;
    sqlx::query(
        "UPDATE datasources SET datasource_type = $2, credentials_sealed = $3, public_config = $4,
         tenancy_settings = $5, status = 'pending', last_job_id = $6, defaults_used = $7, updated_at = now() WHERE id = $1",
    )
    .bind(id)
    .bind(sub.datasource_type.as_str())
    .bind(&sealed)
    .bind(public_config(sub))
    .bind(sub.tenancy)
    .bind(sub.job_id)
    .bind(sub.defaults_used)
    .execute(&mut *tx)
    .await?;
    insert_job(
        &mut tx,
        settings,
        sub.org_id,
        id,
        sub.name.as_str(),
        sub.job_id,
        JobKind::Update,
        sub.trace_parent,
    )
    .await?;
    tx.commit().await?;
    Ok(Some(id))
}

pub enum DatasourceRef {
    Name(DatasourceName),
    Id(DatasourceId),
}

/// Queues a re-discovery; the datasource's id and name, or `None` when unknown.
pub async fn sync(
    pool: &PgPool,
    settings: &Settings,
    org_id: OrgId,
    which: DatasourceRef,
    job_id: JobId,
    trace_parent: Option<&str>,
) -> Result<Option<(DatasourceId, String)>, StoreError> {
    let mut tx = pool.begin().await?;
    let found: Option<(DatasourceId, String)> = match which {
        DatasourceRef::Name(name) => {
            sqlx::query_as(
                "SELECT id, name FROM datasources WHERE org_id = $1 AND name = $2 FOR UPDATE",
            )
            .bind(org_id)
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?
        }
        DatasourceRef::Id(id) => {
            sqlx::query_as(
                "SELECT id, name FROM datasources WHERE org_id = $1 AND id = $2 FOR UPDATE",
            )
            .bind(org_id)
            .bind(id)
            .fetch_optional(&mut *tx)
            .await?
        }
    };
    let Some((id, name)) = found else {
        return Ok(None);
    };
    sqlx::query("UPDATE datasources SET last_job_id = $2, updated_at = now() WHERE id = $1")
        .bind(id)
        .bind(job_id)
        .execute(&mut *tx)
        .await?;
    insert_job(
        &mut tx,
        settings,
        org_id,
        id,
        &name,
        job_id,
        JobKind::Sync,
        trace_parent,
    )
    .await?;
    tx.commit().await?;
    Ok(Some((id, name)))
}

/// Deletes the record and its cached schema, and announces it. The row stays locked
/// while the cache is cleared, so a worker finishing a job of this datasource waits,
/// then finds it gone and clears what it cached itself. If Redis is down nothing changes.
pub async fn delete(
    pool: &PgPool,
    settings: &Settings,
    store: &SnapshotStore,
    org_id: OrgId,
    name: &DatasourceName,
) -> Result<Option<DatasourceId>, StoreError> {
    let mut tx = pool.begin().await?;
    let id: Option<DatasourceId> =
        sqlx::query_scalar("SELECT id FROM datasources WHERE org_id = $1 AND name = $2 FOR UPDATE")
            .bind(org_id)
            .bind(name)
            .fetch_optional(&mut *tx)
            .await?;
    let Some(id) = id else {
        return Ok(None);
    };
    store.delete(org_id, id).await?;
    sqlx::query("DELETE FROM datasources WHERE id = $1")
        .bind(id)
        .execute(&mut *tx)
        .await?;
    let event = CloudEvent::new(
        DATASOURCE_DELETED,
        org_id,
        name.as_str(),
        serde_json::json!({"datasourceId": id, "datasourceName": name}),
    )
    .identified_by(&[&id.to_string()]);
    outbox::insert_event(&mut tx, settings, org_id, &event).await?;
    tx.commit().await?;
    Ok(Some(id))
}

pub async fn get(
    pool: &PgPool,
    org_id: OrgId,
    name: &DatasourceName,
) -> Result<Option<DatasourceRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM datasources WHERE org_id = $1 AND name = $2");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(org_id)
        .bind(name)
        .fetch_optional(pool)
        .await?)
}

pub async fn list(
    pool: &PgPool,
    org_id: OrgId,
    limit: i64,
    offset: i64,
) -> Result<(Vec<DatasourceRecord>, i64), StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM datasources WHERE org_id = $1 ORDER BY name LIMIT $2 OFFSET $3"
    );
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(org_id)
        .bind(limit)
        .bind(offset)
        .fetch_all(pool)
        .await?;
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM datasources WHERE org_id = $1")
        .bind(org_id)
        .fetch_one(pool)
        .await?;
    Ok((rows, total))
}

/// The record and its opened credentials, for a worker.
pub async fn load_with_credentials(
    pool: &PgPool,
    key: &SecretKey,
    org_id: OrgId,
    id: DatasourceId,
) -> Result<Option<(DatasourceRecord, Map<String, Value>)>, StoreError> {
    #[derive(sqlx::FromRow)]
    struct WithSealed {
        #[sqlx(flatten)]
        record: DatasourceRecord,
        credentials_sealed: Vec<u8>,
    }
    let sql = format!(
        "SELECT {COLUMNS}, credentials_sealed FROM datasources WHERE org_id = $1 AND id = $2"
    );
    let row: Option<WithSealed> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(org_id)
        .bind(id)
        .fetch_optional(pool)
        .await?;
    let Some(WithSealed {
        record,
        credentials_sealed: sealed,
    }) = row
    else {
        return Ok(None);
    };
    let plain = key.open(&sealed, &aad(org_id, id))?;
    let credentials: Map<String, Value> = serde_json::from_slice(&plain)
        .map_err(|e| StoreError::Corrupt(format!("credentials of {id}: {e}")))?;
    Ok(Some((record, credentials)))
}

fn seal(key: &SecretKey, sub: &Submission<'_>, id: DatasourceId) -> Result<Vec<u8>, StoreError> {
    let plain = serde_json::to_vec(sub.credentials).expect("credentials serialise");
    Ok(key.seal(&plain, &aad(sub.org_id, id)))
}

fn public_config(sub: &Submission<'_>) -> Value {
    Value::Object(sub.public_credentials.clone())
}

#[allow(clippy::too_many_arguments)]
async fn insert_job(
    conn: &mut PgConnection,
    settings: &Settings,
    org_id: OrgId,
    datasource_id: DatasourceId,
    name: &str,
    job_id: JobId,
    kind: JobKind,
    trace_parent: Option<&str>,
) -> Result<(), StoreError> {
    // A datasource reached through a bastion has a `tunnel` step.
    sqlx::query(
        "INSERT INTO jobs (id, org_id, datasource_id, datasource_name, kind, status, steps, trace_parent)
         SELECT $1, $2, $3, $4, $5, $6, CASE WHEN d.public_config ? 'tunnel' THEN $9 ELSE $7 END, $8
         FROM datasources d WHERE d.id = $3",
    )
    .bind(job_id)
    .bind(org_id)
    .bind(datasource_id)
    .bind(name)
    .bind(kind)
    .bind(JobStatus::Queued)
    .bind(serde_json::to_value(Step::pending_all()).expect("steps serialise"))
    .bind(trace_parent)
    .bind(serde_json::to_value(Step::pending_for(true)).expect("steps serialise"))
    .execute(&mut *conn)
    .await?;
    let message = JobMessage {
        version: 1,
        job_id,
        org_id,
        datasource_id,
        kind,
    };
    outbox::insert_job(conn, settings, &message, trace_parent).await
}

/// The file uploaded with a datasource, for the worker.
pub async fn load_upload(
    pool: &PgPool,
    datasource_id: DatasourceId,
) -> Result<Option<(String, Vec<u8>)>, StoreError> {
    Ok(
        sqlx::query_as("SELECT file_name, content FROM uploads WHERE datasource_id = $1")
            .bind(datasource_id)
            .fetch_optional(pool)
            .await?,
    )
}

/// The bastion host key a datasource's first tunnel trusted, if the bastion is
/// still the one it was pinned for.
pub async fn tunnel_pin(
    pool: &PgPool,
    datasource_id: DatasourceId,
    bastion: &str,
) -> Result<Option<String>, StoreError> {
    let pin: Option<(Option<Value>,)> =
        sqlx::query_as("SELECT tunnel_host_key FROM datasources WHERE id = $1")
            .bind(datasource_id)
            .fetch_optional(pool)
            .await?;
    Ok(pin
        .and_then(|(v,)| v)
        .filter(|v| v["bastion"].as_str() == Some(bastion))
        .and_then(|v| v["fingerprint"].as_str().map(str::to_string)))
}

/// Pins the host key a tunnel to `bastion` was first trusted with (trust on first
/// use), and returns the key pinned now: this one, or the one a concurrent first
/// job pinned before it (which the caller must then compare). `replace` pins it
/// whatever was there (a fingerprint the credentials give, once checked).
pub async fn pin_tunnel(
    pool: &PgPool,
    datasource_id: DatasourceId,
    bastion: &str,
    fingerprint: &str,
    replace: bool,
) -> Result<Option<String>, StoreError> {
    let pin = serde_json::json!({"bastion": bastion, "fingerprint": fingerprint});
    // One statement: the row is locked while the pin is compared and written.
    let stored: Option<(Value,)> = sqlx::query_as(
        "UPDATE datasources SET tunnel_host_key = CASE
           WHEN $4 OR tunnel_host_key IS NULL OR tunnel_host_key->>'bastion' IS DISTINCT FROM $3 THEN $2
           ELSE tunnel_host_key END
         WHERE id = $1 RETURNING tunnel_host_key",
    )
    .bind(datasource_id)
    .bind(&pin)
    .bind(bastion)
    .bind(replace)
    .fetch_optional(pool)
    .await?;
    Ok(stored.and_then(|(v,)| v["fingerprint"].as_str().map(str::to_string)))
}
