//! One job, step by step: validate → connect → discover → cache, then the outcome.
//! A target's fault ends the job; a fault of onramp's own infrastructure is returned
//! as `Fault::Infrastructure` for the caller to retry.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};
use uuid::Uuid;

use super::WorkerDeps;
use crate::connectors::pipeline::{self, Discovered, Undiscovered};
use crate::connectors::{
    Connection, ConnectorConfig, ConnectorError, DatasourceType, JobInputs, Net, Upload,
};
use crate::domain::events::{CloudEvent, DATASOURCE_FAILED, DATASOURCE_READY, JOB_PROGRESS};
use crate::domain::snapshot::Snapshot;
use crate::domain::tenancy;
use crate::domain::{DatasourceStatus, ErrorCode, JobError, JobStatus, Step, StepName, StepStatus};
use crate::egress::ssh::{Tunnel, TunnelSettings};
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
    /// The lease could not be renewed before it ran out (the database did not
    /// answer): stop, write nothing more, give the message back.
    LeaseUnrenewed,
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
        let Some(index) = Step::index(&self.steps, step) else {
            return Ok(());
        };
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
        let slow_start = status == StepStatus::Running
            && matches!(
                step,
                StepName::Tunnel | StepName::Connect | StepName::Discover
            );
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

/// How a step ends when it does not pass.
enum Halt {
    /// The target's or the tenant's fault: the job fails with this error.
    Failed(JobError),
    /// Something of onramp's own broke: the job is tried again later.
    Infra(String),
    /// Another worker holds the job now: write nothing more.
    LeaseLost,
}

impl Halt {
    fn failed(code: ErrorCode, message: String, hint: Option<&str>) -> Halt {
        Halt::Failed(JobError {
            code,
            message,
            hint: hint.map(str::to_string),
        })
    }
}

/// A step passes with its value and the message shown for it, or halts the job.
type StepResult<T> = Result<(T, String), Halt>;

/// Why `steps` ended early: the failure is stored, or the job must stop as it is.
enum Ended {
    Failed,
    Stopped(Stop),
}

impl From<Stop> for Ended {
    fn from(stop: Stop) -> Ended {
        Ended::Stopped(stop)
    }
}

/// Runs one step: marks it running, then passed with its message, or failed (the
/// failure stored with its event), or stopped for a retry.
async fn step<T>(
    p: &mut Progress<'_>,
    name: StepName,
    work: impl std::future::Future<Output = StepResult<T>>,
) -> Result<T, Ended> {
    p.set(name, StepStatus::Running, None).await?;
    match work.await {
        Ok((value, message)) => {
            p.set(name, StepStatus::Passed, Some(message)).await?;
            Ok(value)
        }
        Err(Halt::Failed(error)) => {
            fail(p, name, error).await?;
            Err(Ended::Failed)
        }
        Err(Halt::Infra(cause)) => Err(p.infra(name, cause).into()),
        Err(Halt::LeaseLost) => Err(Stop::LeaseLost.into()),
    }
}

/// Runs a claimed job to its stored outcome, or returns the infrastructure fault.
pub async fn run(deps: &WorkerDeps, job: &JobRow) -> Result<JobStatus, Stop> {
    // The steps the job was created (or claimed) with: with a `tunnel` step when
    // the datasource has one.
    let claimed = serde_json::from_value(job.steps.clone()).unwrap_or_else(|_| Step::pending_all());
    let mut p = Progress {
        deps,
        job,
        steps: claimed,
        started: None,
        deferred: Vec::new(),
    };
    match steps(&mut p).await {
        Ok(()) => Ok(JobStatus::Succeeded),
        Err(Ended::Failed) => Ok(JobStatus::Failed),
        Err(Ended::Stopped(stop)) => Err(stop),
    }
}

/// The job, top to bottom.
async fn steps(p: &mut Progress<'_>) -> Result<(), Ended> {
    let (deps, job) = (p.deps, p.job);
    let (config, tenancy_settings) = step(p, StepName::Validate, validate(deps, job)).await?;
    let has_step = p.steps.iter().any(|s| s.name == StepName::Tunnel);
    let net = match config.tunnel() {
        Some(settings) => {
            if !has_step {
                p.steps.insert(1, Step::pending_for(true).remove(1));
            }
            let tunnel = step(p, StepName::Tunnel, open_tunnel(deps, job, settings)).await?;
            deps.net.through(tunnel)
        }
        None => {
            if let Some(i) = Step::index(&p.steps, StepName::Tunnel) {
                p.steps[i].status = StepStatus::Skipped;
            }
            deps.net.clone()
        }
    };
    let ended = through_tunnel(p, &config, &net, &tenancy_settings).await;
    // A tunnel serves one job: closed here, whatever happened, never reused.
    if let Some(t) = net.tunnel() {
        t.close().await;
    }
    ended
}

/// The steps after the tunnel (if any): connect, discover, cache, and the outcome.
async fn through_tunnel(
    p: &mut Progress<'_>,
    config: &ConnectorConfig,
    net: &Net,
    tenancy_settings: &Option<tenancy::TenancySettings>,
) -> Result<(), Ended> {
    let (deps, job) = (p.deps, p.job);
    let conn = step(p, StepName::Connect, connect(deps, config, net)).await?;
    let found = step(
        p,
        StepName::Discover,
        discover(deps, net, conn, tenancy_settings),
    )
    .await?;
    step(p, StepName::Cache, cache(deps, job, &found.snapshot)).await?;
    finish(p, config.datasource_type(), found).await
}

/// Opens the tunnel; with no fingerprint in the credentials, the bastion's key must
/// be the one this datasource's first tunnel pinned, or is pinned now.
async fn open_tunnel(
    deps: &WorkerDeps,
    job: &JobRow,
    settings: &TunnelSettings,
) -> StepResult<Arc<Tunnel>> {
    let bastion = settings.bastion();
    let infra = |e: StoreError| Halt::Infra(e.to_string());
    let given = settings.host_key_fingerprint.is_some();
    let pinned = if given {
        None
    } else {
        datasources::tunnel_pin(&deps.pool, job.datasource_id, &bastion)
            .await
            .map_err(infra)?
    };
    let tunnel = pipeline::tunnel(
        settings,
        &deps.net,
        pinned.as_deref(),
        deps.settings.tunnel_timeout,
    )
    .await
    .map_err(|e| Halt::Failed(job_error(StepName::Tunnel, &e)))?;
    let trust = if pinned.is_some() {
        "the one pinned by this datasource's first tunnel"
    } else {
        // A given fingerprint, once checked, becomes the pin (so that removing it
        // later keeps the key it named); otherwise this is the first use.
        let stored = datasources::pin_tunnel(
            &deps.pool,
            job.datasource_id,
            &bastion,
            tunnel.fingerprint(),
            given,
        )
        .await
        .map_err(infra)?;
        // Two first jobs at once: the other pinned first, and its key is the one.
        if let Some(other) = stored.filter(|s| s != tunnel.fingerprint()) {
            return Err(Halt::failed(
                ErrorCode::CredentialTestFailed,
                format!(
                    "tunnel: the bastion {bastion} presented host key {}, not the expected {other}",
                    tunnel.fingerprint()
                ),
                Some(
                    "another job of this datasource pinned a different host key at the same time: if the bastion's key was changed on purpose, update the datasource with tunnel.hostKeyFingerprint",
                ),
            ));
        }
        if given {
            "the one the credentials give"
        } else {
            "trusted on first use and pinned: later jobs require it"
        }
    };
    let message = format!(
        "tunnel open through {bastion} as {}; host key {} ({trust})",
        settings.username,
        tunnel.fingerprint()
    );
    Ok((tunnel, message))
}

/// Loads the stored credentials and checks them again into the typed config, with
/// what the job adds (an uploaded file, the operator's limits).
async fn validate(
    deps: &WorkerDeps,
    job: &JobRow,
) -> StepResult<(ConnectorConfig, Option<tenancy::TenancySettings>)> {
    let invalid = |message: String, hint: &str| {
        Halt::failed(ErrorCode::CredentialTestFailed, message, Some(hint))
    };
    let loaded =
        datasources::load_with_credentials(&deps.pool, &deps.key, job.org_id, job.datasource_id)
            .await;
    let (record, credentials) = match loaded {
        Ok(Some(found)) => found,
        Ok(None) => {
            return Err(Halt::failed(
                ErrorCode::CredentialTestFailed,
                "validate: the datasource was deleted before its job ran".into(),
                None,
            ));
        }
        Err(e @ StoreError::Db(_)) => return Err(Halt::Infra(e.to_string())),
        Err(e) => {
            return Err(invalid(
                format!("validate: {e}"),
                "the stored credentials cannot be read with this secret key: update the datasource",
            ));
        }
    };
    let mut config = pipeline::configure(&record.datasource_type, &Value::Object(credentials))
        .map_err(|problems| {
            let detail: Vec<String> = problems
                .iter()
                .map(|p| format!("{} {}", p.field, p.problem))
                .collect();
            invalid(
                format!(
                    "validate: stored credentials are invalid: {}",
                    detail.join("; ")
                ),
                "update the datasource with valid credentials",
            )
        })?;
    // A file uploaded with the datasource lives beside its record.
    let upload = if config.needs_upload() {
        match datasources::load_upload(&deps.pool, job.datasource_id).await {
            Ok(Some((file_name, content))) => {
                Some(std::sync::Arc::new(Upload { file_name, content }))
            }
            Ok(None) => {
                return Err(invalid(
                    "validate: the datasource has no url and no uploaded file".into(),
                    "update it with a url, or create it again with the file",
                ));
            }
            Err(e) => return Err(Halt::Infra(e.to_string())),
        }
    } else {
        None
    };
    config.prepare(JobInputs {
        upload,
        file_max_bytes: deps.settings.csv_max_bytes,
    });
    let tenancy_settings = record
        .tenancy_settings
        .and_then(|v| serde_json::from_value(v).ok());
    let defaults = if record.defaults_used.is_empty() {
        String::new()
    } else {
        format!("; defaults used: {}", record.defaults_used.join(", "))
    };
    let message = format!(
        "credentials are valid for {}{defaults}",
        config.datasource_type()
    );
    Ok(((config, tenancy_settings), message))
}

async fn connect<'a>(
    deps: &WorkerDeps,
    config: &'a ConnectorConfig,
    net: &'a Net,
) -> StepResult<Connection<'a>> {
    let limit = deps.settings.connect_timeout;
    let (conn, retries) = pipeline::connect(config, net, limit)
        .await
        .map_err(|e| Halt::Failed(job_error(StepName::Connect, &e)))?;
    let mut message = match retries {
        0 => "connected and logged in".to_string(),
        n => format!(
            "connected and logged in after {n} retries: the server was at its connection limit or asked to wait"
        ),
    };
    if let Some(warning) = config.cleartext_warning() {
        message = format!("{message}; {warning}");
    }
    Ok((conn, message))
}

async fn discover(
    deps: &WorkerDeps,
    net: &Net,
    conn: Connection<'_>,
    tenancy_settings: &Option<tenancy::TenancySettings>,
) -> StepResult<Discovered> {
    let limit = deps.settings.discover_timeout;
    let found = match pipeline::discover(conn, tenancy_settings.as_ref(), limit).await {
        Err(Undiscovered::Target(e)) => {
            Err(Undiscovered::Target(pipeline::explained(net, e).await))
        }
        other => other,
    };
    let found = found.map_err(|e| match e {
            Undiscovered::Target(e) => Halt::Failed(job_error(StepName::Discover, &e)),
            Undiscovered::Tenancy(missing) => Halt::failed(
                ErrorCode::SchemaCacheFailed,
                format!("discover: {missing}"),
                Some("fix tenancySettings to name a table and columns that exist, then update the datasource"),
            ),
        })?;
    let summary = found.snapshot.summary();
    let waited = match found.waits {
        0 => String::new(),
        n => format!("; the server asked onramp to wait {n} times"),
    };
    let message = format!(
        "found {} tables and {} columns in {} schemas{waited}",
        summary.tables, summary.columns, summary.schemas
    );
    Ok((found, message))
}

/// Stores the snapshot in Redis, if this job may.
async fn cache(deps: &WorkerDeps, job: &JobRow, snapshot: &Snapshot) -> StepResult<()> {
    let s = &deps.settings;
    // Only the lease holder writes the snapshot: a worker whose lease ran out (it was
    // cut off, another took the job over) stops here and writes nothing.
    // A job that is no longer its datasource's latest (an update or sync came after
    // it) leaves the snapshot to the newer one.
    let lease = s.job_lease;
    let latest = match jobs::renew_for_cache(&deps.pool, job.id, deps.id, lease).await {
        Ok(Some(latest)) => latest,
        Ok(None) => return Err(Halt::LeaseLost),
        Err(e) => return Err(Halt::Infra(e.to_string())),
    };
    // And Redis takes it only from a job newer than the one whose snapshot it holds
    // (compare-and-set on the job's sequence number): an older sync that finishes
    // last cannot overwrite a newer snapshot.
    let put = async {
        if latest {
            deps.store
                .put(job.org_id, job.datasource_id, snapshot, job.seq, job.id)
                .await
        } else {
            Ok(Put::NotLatest)
        }
    };
    let stored = match tokio::time::timeout(s.cache_timeout, put).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return Err(Halt::Infra(e.to_string())),
        Err(_) => {
            return Err(Halt::Infra(format!(
                "redis did not answer within {} ms",
                s.cache_timeout.as_millis()
            )));
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
    Ok(((), message))
}

/// Stores the success with its `datasource.ready` event.
async fn finish(p: &mut Progress<'_>, ty: DatasourceType, found: Discovered) -> Result<(), Ended> {
    let (deps, job) = (p.deps, p.job);
    let summary = found.snapshot.summary();
    let schema = json!({"schemas": summary.schemas, "tables": summary.tables, "columns": summary.columns, "hash": summary.hash});
    let mut result = json!({"schema": schema});
    if let Some(dbs) = found.client_databases {
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
        datasource_status: DatasourceStatus::Ready,
        schema_summary: Some(schema.clone()),
        event: &event,
    };
    match jobs::finish(&deps.pool, &deps.settings, job, Some(deps.id), &outcome).await {
        Ok(jobs::Finished::DatasourceGone) => {
            // Deleted while we worked: leave nothing behind in Redis.
            let _ = deps.store.delete(job.org_id, job.datasource_id).await;
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(e) => Err(p.infra(StepName::Cache, e).into()),
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
        datasource_status: DatasourceStatus::Failed,
        schema_summary: None,
        event: &event,
    };
    jobs::finish(&deps.pool, &deps.settings, job, worker, &outcome).await?;
    Ok(())
}
