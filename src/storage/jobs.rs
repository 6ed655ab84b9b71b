//! Job rows: read by the API, claimed, advanced and finished by workers.
//! A worker's claim is a lease renewed by heartbeats, so the job of a worker that
//! died is taken over by the next delivery once the lease runs out.

use crate::domain::{DatasourceId, JobId, OrgId};
use std::time::Duration;

use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::{StoreError, outbox};
use crate::config::Settings;
use crate::domain::events::CloudEvent;
use crate::domain::schema_diff::SchemaDiff;
use crate::domain::{DatasourceStatus, Job, JobError, JobKind, JobStatus, Step};

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct JobRow {
    pub id: JobId,
    pub org_id: OrgId,
    pub datasource_id: DatasourceId,
    pub datasource_name: String,
    pub kind: JobKind,
    pub status: JobStatus,
    pub steps: Value,
    pub error: Option<Value>,
    pub result: Option<Value>,
    pub attempts: i32,
    /// Claims that took the job over from a worker that stopped while running it.
    pub takeovers: i32,
    /// Increases with every job recorded: the order of a datasource's jobs.
    pub seq: i64,
    pub trace_parent: Option<String>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
}

const COLUMNS: &str = "id, org_id, datasource_id, datasource_name, kind, status, steps, error, result, attempts, takeovers, seq, trace_parent, created_at, finished_at";

fn parse<T: serde::de::DeserializeOwned>(value: Value, what: &str) -> Result<T, StoreError> {
    serde_json::from_value(value).map_err(|e| StoreError::Corrupt(format!("{what}: {e}")))
}

impl JobRow {
    pub fn to_job(&self) -> Result<Job, StoreError> {
        let result = self.result.clone();
        Ok(Job {
            job_id: self.id,
            kind: self.kind,
            datasource_name: self.datasource_name.clone(),
            datasource_id: (self.kind != JobKind::Test).then_some(self.datasource_id),
            status: self.status,
            steps: parse(self.steps.clone(), "job steps")?,
            error: self
                .error
                .clone()
                .map(|e| parse::<JobError>(e, "job error"))
                .transpose()?,
            attempts: self.attempts,
            created_at: self.created_at,
            finished_at: self.finished_at,
            schema: result.as_ref().and_then(|r| r.get("schema")).cloned(),
            result: result
                .as_ref()
                .and_then(|r| r.get("tenancy"))
                .map(|t| serde_json::json!({"tenancy": t})),
        })
    }
}

/// A job as the API shows it, only to its own organisation.
pub async fn get(
    pool: &PgPool,
    org_id: OrgId,
    job_id: JobId,
) -> Result<Option<JobRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM jobs WHERE id = $1 AND org_id = $2");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(job_id)
        .bind(org_id)
        .fetch_optional(pool)
        .await?)
}

pub enum Claim {
    Claimed(Box<JobRow>),
    /// The outcome is already stored: a redelivery to acknowledge.
    AlreadyFinal,
    /// Another live worker holds the lease.
    Held,
    Missing,
}

/// Takes the job for this worker unless it is finished or held by a live lease. Its
/// steps start again from pending: the same steps it was recorded with (a tunnel
/// step for a datasource behind a bastion, no cache step for a test).
pub async fn claim(
    pool: &PgPool,
    job_id: JobId,
    worker: Uuid,
    lease: Duration,
) -> Result<Claim, StoreError> {
    let sql = format!(
        "UPDATE jobs SET status = 'running', attempts = attempts + 1,
           takeovers = takeovers + CASE WHEN status = 'running' THEN 1 ELSE 0 END, lease_owner = $2,
           lease_until = now() + make_interval(secs => $3), started_at = coalesce(started_at, now()),
           steps = coalesce((SELECT jsonb_agg(jsonb_build_object('name', s->'name', 'status', 'pending',
                      'durationMs', NULL, 'message', NULL) ORDER BY n)
                    FROM jsonb_array_elements(steps) WITH ORDINALITY AS e(s, n)), steps),
           error = NULL, updated_at = now()
         WHERE id = $1 AND status IN ('queued', 'running') AND (lease_until IS NULL OR lease_until < now())
         RETURNING {COLUMNS}"
    );
    let claimed: Option<JobRow> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(job_id)
        .bind(worker)
        .bind(lease.as_secs_f64())
        .fetch_optional(pool)
        .await?;
    if let Some(row) = claimed {
        return Ok(Claim::Claimed(Box::new(row)));
    }
    let status: Option<String> = sqlx::query_scalar("SELECT status FROM jobs WHERE id = $1")
        .bind(job_id)
        .fetch_optional(pool)
        .await?;
    Ok(match status.as_deref() {
        None => Claim::Missing,
        Some("succeeded" | "failed") => Claim::AlreadyFinal,
        Some(_) => Claim::Held,
    })
}

/// Records step progress and queues a `job.progress` event in one statement.
pub async fn record_steps(
    pool: &PgPool,
    settings: &Settings,
    job_id: JobId,
    worker: Uuid,
    steps: &[Step],
    events: &[CloudEvent],
    org_id: OrgId,
) -> Result<bool, StoreError> {
    // One statement, one round trip: the steps, their progress events in the outbox
    // (only while this worker holds the lease) and the relay's wake-up.
    let keys: Vec<String> = events.iter().map(|e| e.routing_key(org_id)).collect();
    let payloads: Vec<serde_json::Value> = events
        .iter()
        .map(|e| serde_json::to_value(e).expect("event serialises"))
        .collect();
    let updated: i64 = sqlx::query_scalar(
        "WITH job AS (
           UPDATE jobs SET steps = $3, updated_at = now() WHERE id = $1 AND lease_owner = $2 RETURNING id
         ), queued AS (
           INSERT INTO outbox (exchange, routing_key, payload, headers)
           SELECT $4, e.key, e.payload, '{}'::jsonb FROM job, unnest($5::text[], $6::jsonb[]) AS e(key, payload)
           RETURNING id
         )
         SELECT (SELECT count(*) FROM job), (SELECT count(*) FROM (SELECT pg_notify($7, '') FROM queued LIMIT 1) AS woken)",
    )
    .bind(job_id)
    .bind(worker)
    .bind(serde_json::to_value(steps).expect("steps serialise"))
    .bind(settings.events_exchange())
    .bind(&keys)
    .bind(&payloads)
    .bind(super::OUTBOX_CHANNEL)
    .fetch_one(pool)
    .await?;
    Ok(updated == 1)
}

/// Before the snapshot is written: whether `worker` still owns the job (its lease
/// renewed for `lease` from now, so the write that follows falls inside it), and
/// whether the job is still the latest of its datasource. `None`: the job belongs
/// to another worker now.
pub async fn renew_for_cache(
    pool: &PgPool,
    job_id: JobId,
    worker: Uuid,
    lease: Duration,
) -> Result<Option<bool>, StoreError> {
    Ok(sqlx::query_scalar(
        "UPDATE jobs j SET lease_until = now() + make_interval(secs => $3)
          WHERE j.id = $1 AND j.lease_owner = $2
          RETURNING EXISTS (SELECT 1 FROM datasources d WHERE d.id = j.datasource_id AND d.last_job_id = j.id)",
    )
    .bind(job_id)
    .bind(worker)
    .bind(lease.as_secs_f64())
    .fetch_optional(pool)
    .await?)
}

pub async fn heartbeat(
    pool: &PgPool,
    job_id: JobId,
    worker: Uuid,
    lease: Duration,
) -> Result<bool, StoreError> {
    Ok(sqlx::query(
        "UPDATE jobs SET lease_until = now() + make_interval(secs => $3) WHERE id = $1 AND lease_owner = $2",
    )
    .bind(job_id)
    .bind(worker)
    .bind(lease.as_secs_f64())
    .execute(pool)
    .await?
    .rows_affected()
        == 1)
}

/// The final state of a job, written with the datasource's new state and the event.
pub struct Outcome<'a> {
    pub status: JobStatus,
    pub steps: &'a [Step],
    pub error: Option<&'a JobError>,
    pub result: Option<Value>,
    pub datasource_status: DatasourceStatus,
    pub schema_summary: Option<Value>,
    /// None for a test job: it announces nothing.
    pub event: Option<&'a CloudEvent>,
    /// What the job's snapshot changed against the one it replaced, with its
    /// `datasource.schema_changed` event.
    pub schema_changes: Option<(&'a SchemaDiff, &'a CloudEvent)>,
}

pub enum Finished {
    Stored,
    /// The datasource was deleted while the job ran.
    DatasourceGone,
    /// This worker no longer holds the job (its lease expired and another took it).
    LeaseLost,
}

/// Stores the outcome. `worker` of `None` finishes regardless of the lease (dead-lettering).
pub async fn finish(
    pool: &PgPool,
    settings: &Settings,
    job: &JobRow,
    worker: Option<Uuid>,
    outcome: &Outcome<'_>,
) -> Result<Finished, StoreError> {
    let mut tx = pool.begin().await?;
    let test = job.kind == JobKind::Test;
    // A test job is kept for the retention period after it ends, then removed.
    let retention = test.then_some(settings.test_retention.as_secs_f64());
    let updated = sqlx::query(
        "UPDATE jobs SET status = $3, steps = $4, error = $5, result = $6, finished_at = now(),
           lease_owner = NULL, lease_until = NULL, updated_at = now(),
           expires_at = now() + make_interval(secs => $7)
         WHERE id = $1 AND status IN ('queued', 'running') AND ($2::uuid IS NULL OR lease_owner = $2)",
    )
    .bind(job.id)
    .bind(worker)
    .bind(outcome.status)
    .bind(serde_json::to_value(outcome.steps).expect("steps serialise"))
    .bind(outcome.error.map(|e| serde_json::to_value(e).expect("error serialises")))
    .bind(&outcome.result)
    .bind(retention)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if updated == 0 {
        return Ok(Finished::LeaseLost);
    }
    if test {
        // The sealed credentials are not kept a moment longer than the job needs them.
        super::test_jobs::forget(&mut tx, job.datasource_id).await?;
        tx.commit().await?;
        return Ok(Finished::Stored);
    }
    // Only the latest job of a datasource decides its status.
    let ds = sqlx::query(
        "UPDATE datasources SET status = $3, schema_summary = coalesce($4, schema_summary), updated_at = now()
         WHERE id = $1 AND org_id = $2 AND last_job_id = $5",
    )
    .bind(job.datasource_id)
    .bind(job.org_id)
    .bind(outcome.datasource_status)
    .bind(&outcome.schema_summary)
    .bind(job.id)
    .execute(&mut *tx)
    .await?
    .rows_affected();
    let exists: bool = ds == 1
        || sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM datasources WHERE id = $1)")
            .bind(job.datasource_id)
            .fetch_one(&mut *tx)
            .await?;
    if let Some(event) = outcome.event {
        outbox::insert_event(&mut tx, settings, job.org_id, event).await?;
    }
    if let (true, Some((diff, event))) = (exists, outcome.schema_changes) {
        super::schema_changes::insert(&mut tx, job.org_id, job.datasource_id, job.id, diff).await?;
        outbox::insert_event(&mut tx, settings, job.org_id, event).await?;
    }
    tx.commit().await?;
    Ok(if exists {
        Finished::Stored
    } else {
        Finished::DatasourceGone
    })
}

/// Gives the job back for a delayed retry after an infrastructure fault.
pub async fn release_for_retry(
    pool: &PgPool,
    job_id: JobId,
    worker: Uuid,
    steps: &[Step],
) -> Result<bool, StoreError> {
    Ok(sqlx::query(
        "UPDATE jobs SET status = 'queued', lease_owner = NULL, lease_until = NULL, steps = $3, updated_at = now()
         WHERE id = $1 AND lease_owner = $2",
    )
    .bind(job_id)
    .bind(worker)
    .bind(serde_json::to_value(steps).expect("steps serialise"))
    .execute(pool)
    .await?
    .rows_affected()
        == 1)
}

/// Gives the job back without counting the attempt (a drain on shutdown).
pub async fn release_unstarted(
    pool: &PgPool,
    job_id: JobId,
    worker: Uuid,
) -> Result<(), StoreError> {
    sqlx::query(
        "UPDATE jobs SET status = 'queued', attempts = greatest(attempts - 1, 0), lease_owner = NULL,
           lease_until = NULL, updated_at = now() WHERE id = $1 AND lease_owner = $2",
    )
    .bind(job_id)
    .bind(worker)
    .execute(pool)
    .await?;
    Ok(())
}

/// Reads a job by id for the worker (any organisation).
pub async fn get_any(pool: &PgPool, job_id: JobId) -> Result<Option<JobRow>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM jobs WHERE id = $1");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(job_id)
        .fetch_optional(pool)
        .await?)
}

/// When each of these jobs last changed: what the API's stream poller compares.
pub async fn changed(
    pool: &PgPool,
    ids: &[JobId],
) -> Result<Vec<(JobId, chrono::DateTime<chrono::Utc>)>, StoreError> {
    Ok(
        sqlx::query_as("SELECT id, updated_at FROM jobs WHERE id = ANY($1)")
            .bind(ids)
            .fetch_all(pool)
            .await?,
    )
}

/// The reconciler's sweep, by whichever process takes the lock this time: jobs
/// queued longer than `after` with no message waiting in the outbox (the broker lost
/// it, or an operator purged the queue), and jobs whose lease ran out more than
/// `after` ago (no worker took them over: their message is gone too), get a new
/// message. Touched jobs wait another `after` before they count as stranded again.
/// Returns how many were sent again; `None` when another process holds the lock.
pub async fn reconcile(
    pool: &PgPool,
    settings: &Settings,
    after: Duration,
) -> Result<Option<u64>, StoreError> {
    let mut tx = pool.begin().await?;
    let leader: bool = sqlx::query_scalar("SELECT pg_try_advisory_xact_lock(hashtext($1))")
        .bind(format!("onramp-reconciler:{}", settings.prefix))
        .fetch_one(&mut *tx)
        .await?;
    if !leader {
        return Ok(None);
    }
    let sent: i64 = sqlx::query_scalar(
        "WITH stranded AS (
           SELECT j.id, j.org_id, j.datasource_id, j.kind, j.trace_parent FROM jobs j
            WHERE j.updated_at < now() - make_interval(secs => $1)
              AND (j.status = 'queued'
                   OR (j.status = 'running' AND j.lease_until < now() - make_interval(secs => $1)))
              AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.job_id = j.id)
            ORDER BY j.updated_at LIMIT 500 FOR UPDATE SKIP LOCKED
         ), touched AS (
           UPDATE jobs SET updated_at = now() WHERE id IN (SELECT id FROM stranded)
         ), queued AS (
           INSERT INTO outbox (exchange, routing_key, payload, headers, job_id)
           SELECT $2, $3,
                  jsonb_build_object('version', 1, 'jobId', id, 'orgId', org_id, 'datasourceId', datasource_id, 'kind', kind),
                  CASE WHEN trace_parent IS NULL THEN '{}'::jsonb ELSE jsonb_build_object('traceparent', trace_parent) END,
                  id
             FROM stranded RETURNING id
         )
         SELECT count(*) FROM (SELECT pg_notify($4, '') FROM queued) AS woken",
    )
    .bind(after.as_secs_f64())
    .bind(settings.jobs_exchange())
    .bind(crate::domain::JOB_ROUTING_KEY)
    .bind(super::OUTBOX_CHANNEL)
    .fetch_one(&mut *tx)
    .await?;
    super::test_jobs::sweep(&mut tx, after).await?;
    tx.commit().await?;
    Ok(Some(sent as u64))
}

/// How long the oldest job waiting to start has waited (seconds; 0 when none).
pub async fn oldest_queued_age(pool: &PgPool) -> Result<f64, StoreError> {
    let age: Option<f64> = sqlx::query_scalar(
        "SELECT EXTRACT(EPOCH FROM now() - min(created_at))::float8 FROM jobs WHERE status = 'queued'",
    )
    .fetch_one(pool)
    .await?;
    Ok(age.unwrap_or(0.0).max(0.0))
}
