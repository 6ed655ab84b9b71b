//! One job, step by step: validate → connect → discover → cache, then the outcome.
//! A target's fault ends the job; a fault of onramp's own infrastructure is returned
//! as `Fault::Infrastructure` for the caller to retry.

use std::time::{Duration, Instant};

use serde_json::json;
use uuid::Uuid;

use super::WorkerDeps;
use crate::connectors::{ConnectorConfig, ConnectorError, DatasourceType, tenancy};
use crate::domain::{ErrorCode, JobError, JobStatus, Step, StepName, StepStatus};
use crate::events::{CloudEvent, DATASOURCE_FAILED, DATASOURCE_READY, JOB_PROGRESS};
use crate::storage::jobs::{self, JobRow, Outcome};
use crate::storage::snapshots::Put;
use crate::storage::{StoreError, datasources};

/// Why a job stopped without an outcome of its own.
#[derive(Debug)]
pub enum Stop {
    /// Something of onramp's own broke: retry later.
    Infra(InfraFault),
    /// Another worker holds the job now (this one's lease ran out): write nothing more.
    LeaseLost,
}

/// Something of onramp's own broke in `step`.
#[derive(Debug)]
pub struct InfraFault {
    pub step: StepName,
    pub cause: String,
    /// Steps as they stood, for the job record.
    pub steps: Vec<Step>,
}

struct Progress<'a> {
    deps: &'a WorkerDeps,
    job: &'a JobRow,
    steps: Vec<Step>,
    started: Option<Instant>,
    /// Progress events not yet written: the instant steps' transitions wait for the
    /// next write, so that a job takes three progress writes, not eight.
    deferred: Vec<CloudEvent>,
}

impl Progress<'_> {
    fn infra(&self, step: StepName, cause: impl std::fmt::Display) -> Stop {
        Stop::Infra(InfraFault {
            step,
            cause: cause.to_string(),
            steps: self.steps.clone(),
        })
    }

    async fn set(
        &mut self,
        step: StepName,
        status: StepStatus,
        message: Option<String>,
    ) -> Result<(), Stop> {
        let index = step as usize;
        if status == StepStatus::Running {
            self.started = Some(Instant::now());
        } else if let Some(started) = self.started.take() {
            self.steps[index].duration_ms = Some(started.elapsed().as_millis() as u64);
        }
        self.steps[index].status = status;
        self.steps[index].message = message;
        let event = CloudEvent::new(
            JOB_PROGRESS,
            self.job.org_id,
            &self.job.datasource_name,
            json!({"jobId": self.job.id, "datasourceId": self.job.datasource_id,
                   "datasourceName": self.job.datasource_name, "step": self.steps[index]}),
        )
        // One id per run of the job (its claim), step and status.
        .identified_by(&[
            &self.job.id.to_string(),
            &self.job.attempts.to_string(),
            step.as_str(),
            &format!("{status:?}"),
        ]);
        self.deferred.push(event);
        // Written at once: the start of the steps that wait on the target (so that a
        // poller sees what the job waits for), a failure, and the last step's end.
        // The instant steps' transitions ride along with the next write.
        let slow_start =
            status == StepStatus::Running && matches!(step, StepName::Connect | StepName::Discover);
        let last = step == StepName::Cache && status != StepStatus::Running;
        if !(slow_start || last || status == StepStatus::Failed) {
            return Ok(());
        }
        let events = std::mem::take(&mut self.deferred);
        let held = jobs::record_steps(
            &self.deps.pool,
            &self.deps.settings,
            self.job.id,
            self.deps.id,
            &self.steps,
            &events,
            self.job.org_id,
        )
        .await
        .map_err(|e| self.infra(step, e))?;
        // The write is conditional on the lease: nothing was written, and nothing more
        // may be. Another worker runs the job now.
        if !held {
            return Err(Stop::LeaseLost);
        }
        Ok(())
    }

    /// Marks the remaining steps skipped after a failure.
    fn skip_rest(&mut self) {
        for s in &mut self.steps {
            if s.status == StepStatus::Pending {
                s.status = StepStatus::Skipped;
            }
        }
    }
}

/// A target fault: the failed step's code, message and hint.
fn job_error(step: StepName, e: &ConnectorError) -> JobError {
    JobError {
        code: if e.fault == crate::connectors::Fault::Egress {
            ErrorCode::EgressDenied
        } else {
            step.failure_code()
        },
        message: format!("{}: {}", step.as_str(), e.message),
        hint: Some(e.hint.clone()),
    }
}

/// Runs a step's work within `limit`; also how often a busy server made it wait.
async fn timed<T>(
    limit: Duration,
    what: &str,
    fut: impl std::future::Future<Output = Result<T, ConnectorError>>,
) -> (Result<T, ConnectorError>, u32) {
    let deadline = tokio::time::Instant::now() + limit;
    // On the heap: a connector's future is large, and the layers around it would
    // otherwise be moved through the stack of the thread that polls them.
    let fut = Box::pin(fut);
    let (out, waits) =
        crate::egress::http::within_step(deadline, tokio::time::timeout(limit, fut)).await;
    (
        out.unwrap_or_else(|_| Err(ConnectorError::timeout(what, limit))),
        waits,
    )
}

/// Connects, trying again while the target says it is busy (at its connection limit,
/// starting up) with a growing, jittered pause, within the connect step's time.
/// The connection and how many retries it took.
async fn connect(
    config: &ConnectorConfig,
    deps: &WorkerDeps,
    limit: Duration,
) -> Result<(crate::connectors::Connection, u32), ConnectorError> {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + limit;
    let mut pause = Duration::from_millis(100);
    let mut retries = 0u32;
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let (connected, waits) = timed(left, "connect", config.connect(&deps.egress)).await;
        retries += waits;
        match connected {
            Ok(c) => return Ok((c, retries)),
            Err(e) if e.fault == crate::connectors::Fault::Busy => {
                let jitter = Duration::from_millis(
                    rand::random::<u64>() % (pause.as_millis() as u64 / 2 + 1),
                );
                if tokio::time::Instant::now() + pause + jitter >= deadline {
                    let mut e = e;
                    e.message = format!(
                        "{} (tried {} times over {} ms)",
                        e.message,
                        retries + 1,
                        started.elapsed().as_millis()
                    );
                    e.hint = ConnectorError::BUSY_HINT.to_string();
                    return Err(e);
                }
                metrics::counter!("onramp_target_retries_total", "reason" => "busy").increment(1);
                tokio::time::sleep(pause + jitter).await;
                pause = (pause * 2).min(Duration::from_secs(2));
                retries += 1;
            }
            Err(e) if e.message.starts_with("connect timed out") => {
                // The whole step's time: say so with its limit, not what was left.
                return Err(ConnectorError::timeout("connect", limit));
            }
            Err(e) => return Err(e),
        }
    }
}

/// Runs a claimed job to its stored outcome, or returns the infrastructure fault.
pub async fn run(deps: &WorkerDeps, job: &JobRow) -> Result<JobStatus, Stop> {
    let mut p = Progress {
        deps,
        job,
        steps: Step::pending_all(),
        started: None,
        deferred: Vec::new(),
    };
    let s = &deps.settings;

    p.set(StepName::Validate, StepStatus::Running, None).await?;
    let loaded =
        datasources::load_with_credentials(&deps.pool, &deps.key, job.org_id, job.datasource_id)
            .await;
    let (record, credentials) = match loaded {
        Ok(Some(found)) => found,
        Ok(None) => {
            let error = JobError {
                code: ErrorCode::CredentialTestFailed,
                message: "validate: the datasource was deleted before its job ran".into(),
                hint: None,
            };
            return fail(&mut p, StepName::Validate, error).await;
        }
        Err(e @ StoreError::Db(_)) => return Err(p.infra(StepName::Validate, e)),
        Err(e) => {
            let error = JobError {
                code: ErrorCode::CredentialTestFailed,
                message: format!("validate: {e}"),
                hint: Some("the stored credentials cannot be read with this secret key: update the datasource".into()),
            };
            return fail(&mut p, StepName::Validate, error).await;
        }
    };
    let config = DatasourceType::parse(&record.datasource_type)
        .ok_or_else(|| {
            vec![crate::connectors::FieldProblem::new(
                "datasourceType",
                "is not a known type",
            )]
        })
        .and_then(|ty| {
            ty.validate(&serde_json::Value::Object(credentials))
                .map(|n| (ty, n))
        })
        .and_then(|(ty, normalised)| ConnectorConfig::from_validated(ty, &normalised));
    let mut config = match config {
        Ok(c) => c,
        Err(problems) => {
            let detail: Vec<String> = problems
                .iter()
                .map(|p| format!("{} {}", p.field, p.problem))
                .collect();
            let error = JobError {
                code: ErrorCode::CredentialTestFailed,
                message: format!(
                    "validate: stored credentials are invalid: {}",
                    detail.join("; ")
                ),
                hint: Some("update the datasource with valid credentials".into()),
            };
            return fail(&mut p, StepName::Validate, error).await;
        }
    };
    // A csv datasource's uploaded file lives beside its record; the limit is the operator's.
    if let ConnectorConfig::Csv(c) = &mut config {
        c.max_bytes = Some(s.csv_max_bytes);
        if !c.has_url() {
            match datasources::load_upload(&deps.pool, job.datasource_id).await {
                Ok(Some((file_name, content))) => {
                    c.upload = Some(std::sync::Arc::new(crate::connectors::csvfile::Upload {
                        file_name,
                        content,
                    }))
                }
                Ok(None) => {
                    let error = JobError {
                        code: ErrorCode::CredentialTestFailed,
                        message: "validate: the datasource has no url and no uploaded file".into(),
                        hint: Some("update it with a url, or create it again with the file".into()),
                    };
                    return fail(&mut p, StepName::Validate, error).await;
                }
                Err(e) => return Err(p.infra(StepName::Validate, e)),
            }
        }
    }
    let tenancy_settings: Option<tenancy::TenancySettings> = record
        .tenancy_settings
        .clone()
        .and_then(|v| serde_json::from_value(v).ok());
    let ty = config.datasource_type();
    let defaults = if record.defaults_used.is_empty() {
        String::new()
    } else {
        format!("; defaults used: {}", record.defaults_used.join(", "))
    };
    p.set(
        StepName::Validate,
        StepStatus::Passed,
        Some(format!(
            "credentials are valid for {}{defaults}",
            ty.as_str()
        )),
    )
    .await?;

    p.set(StepName::Connect, StepStatus::Running, None).await?;
    let (mut conn, retries) = match connect(&config, deps, s.connect_timeout()).await {
        Ok(c) => c,
        Err(e) => return fail(&mut p, StepName::Connect, job_error(StepName::Connect, &e)).await,
    };
    let connected = match retries {
        0 => "connected and logged in".to_string(),
        n => format!(
            "connected and logged in after {n} retries: the server was at its connection limit or asked to wait"
        ),
    };
    p.set(StepName::Connect, StepStatus::Passed, Some(connected))
        .await?;

    p.set(StepName::Discover, StepStatus::Running, None).await?;
    let (discovered, waits) = timed(s.discover_timeout(), "discover", async {
        let snapshot = conn.discover(&config).await?;
        let databases = match &tenancy_settings {
            Some(t) if t.tenancy_level == tenancy::Level::Database => {
                Some(conn.list_databases().await?)
            }
            _ => None,
        };
        Ok((snapshot, databases))
    })
    .await;
    conn.close().await;
    let (snapshot, client_databases) = match discovered {
        Ok(found) => found,
        Err(e) => {
            return fail(
                &mut p,
                StepName::Discover,
                job_error(StepName::Discover, &e),
            )
            .await;
        }
    };
    if let Some(t) = &tenancy_settings
        && let Err(missing) = tenancy::check_against(t, &snapshot)
    {
        let error = JobError {
            code: ErrorCode::SchemaCacheFailed,
            message: format!("discover: {missing}"),
            hint: Some("fix tenancySettings to name a table and columns that exist, then update the datasource".into()),
        };
        return fail(&mut p, StepName::Discover, error).await;
    }
    let summary = snapshot.summary();
    let waited = match waits {
        0 => String::new(),
        n => format!("; the server asked onramp to wait {n} times"),
    };
    p.set(
        StepName::Discover,
        StepStatus::Passed,
        Some(format!(
            "found {} tables and {} columns in {} schemas{waited}",
            summary.tables, summary.columns, summary.schemas
        )),
    )
    .await?;

    p.set(StepName::Cache, StepStatus::Running, None).await?;
    // Only the lease holder writes the snapshot: a worker whose lease ran out (it was
    // cut off, another took the job over) stops here and writes nothing.
    // A job that is no longer its datasource's latest (an update or sync came after
    // it) leaves the snapshot to the newer one.
    let lease = Duration::from_millis(s.job_lease_ms);
    let latest = match jobs::renew_for_cache(&deps.pool, job.id, deps.id, lease).await {
        Ok(Some(latest)) => latest,
        Ok(None) => return Err(Stop::LeaseLost),
        Err(e) => return Err(p.infra(StepName::Cache, e)),
    };
    // And Redis takes it only from a job newer than the one whose snapshot it holds
    // (compare-and-set on the job's sequence number): an older sync that finishes
    // last cannot overwrite a newer snapshot.
    let put = async {
        if latest {
            deps.store
                .put(job.org_id, job.datasource_id, &snapshot, job.seq, job.id)
                .await
        } else {
            Ok(Put::NotLatest)
        }
    };
    let stored = match tokio::time::timeout(s.cache_timeout(), put).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return Err(p.infra(StepName::Cache, e)),
        Err(_) => {
            return Err(p.infra(
                StepName::Cache,
                format!("redis did not answer within {} ms", s.cache_timeout_ms),
            ));
        }
    };
    let message = match stored {
        Put::Stored { version } => format!("stored snapshot version {version}"),
        Put::Superseded { by_job } => format!(
            "not stored: a newer job of this datasource ({by_job}) stored its snapshot first"
        ),
        Put::AlreadyStored => "stored already by an earlier run of this job".to_string(),
        Put::NotLatest => {
            "not stored: an update or sync of this datasource came after this job".to_string()
        }
    };
    p.set(StepName::Cache, StepStatus::Passed, Some(message))
        .await?;

    let schema = json!({"schemas": summary.schemas, "tables": summary.tables, "columns": summary.columns, "hash": summary.hash});
    let mut result = json!({"schema": schema});
    if let Some(dbs) = client_databases {
        result["tenancy"] = json!({"tenancyLevel": "DATABASE", "clientDatabases": dbs});
    }
    let event = CloudEvent::new(
        DATASOURCE_READY,
        job.org_id,
        &job.datasource_name,
        json!({"jobId": job.id, "datasourceId": job.datasource_id, "datasourceName": job.datasource_name,
               "datasourceType": ty.as_str(), "schema": schema}),
    )
    .identified_by(&[&job.id.to_string()]);
    let outcome = Outcome {
        status: JobStatus::Succeeded,
        steps: &p.steps,
        error: None,
        result: Some(result),
        datasource_status: "ready",
        schema_summary: Some(schema.clone()),
        event: &event,
    };
    match jobs::finish(&deps.pool, &deps.settings, job, Some(deps.id), &outcome).await {
        Ok(jobs::Finished::DatasourceGone) => {
            // Deleted while we worked: leave nothing behind in Redis.
            let _ = deps.store.delete(job.org_id, job.datasource_id).await;
            Ok(JobStatus::Succeeded)
        }
        Ok(_) => Ok(JobStatus::Succeeded),
        Err(e) => Err(p.infra(StepName::Cache, e)),
    }
}

async fn fail(p: &mut Progress<'_>, step: StepName, error: JobError) -> Result<JobStatus, Stop> {
    p.set(step, StepStatus::Failed, Some(error.message.clone()))
        .await?;
    p.skip_rest();
    store_failure(p.deps, p.job, Some(p.deps.id), &p.steps, &error)
        .await
        .map_err(|e| p.infra(step, e))?;
    Ok(JobStatus::Failed)
}

/// Stores a failed outcome with its `datasource.failed` event.
pub async fn store_failure(
    deps: &WorkerDeps,
    job: &JobRow,
    worker: Option<Uuid>,
    steps: &[Step],
    error: &JobError,
) -> Result<(), StoreError> {
    let event = CloudEvent::new(
        DATASOURCE_FAILED,
        job.org_id,
        &job.datasource_name,
        json!({"jobId": job.id, "datasourceId": job.datasource_id, "datasourceName": job.datasource_name, "error": error}),
    )
    .identified_by(&[&job.id.to_string()]);
    let outcome = Outcome {
        status: JobStatus::Failed,
        steps,
        error: Some(error),
        result: None,
        datasource_status: "failed",
        schema_summary: None,
        event: &event,
    };
    jobs::finish(&deps.pool, &deps.settings, job, worker, &outcome).await?;
    Ok(())
}
