//! One job, step by step: validate → connect → discover → cache, then the outcome.
//! A target's fault ends the job; a fault of onramp's own infrastructure is returned
//! as `Fault::Infrastructure` for the caller to retry.

use std::sync::Arc;

use serde_json::json;
use uuid::Uuid;

use super::inputs::validate;
use super::steps::{Ended, Halt, Progress, Said, StepResult, job_error, step, step_watched};
pub use super::steps::{InfraFault, Stop};
use super::{WorkerDeps, drift};
use crate::connectors::pipeline::{self, Discovered, Undiscovered};
use crate::connectors::progress::{self, DiscoveryProgress};
use crate::connectors::{Connection, ConnectorConfig, DatasourceType, Net};
use crate::domain::events::{CloudEvent, DATASOURCE_FAILED, DATASOURCE_READY};
use crate::domain::schema_diff::SchemaDiff;
use crate::domain::snapshot::Snapshot;
use crate::domain::tenancy;
use crate::domain::{
    DatasourceStatus, ErrorCode, JobError, JobKind, JobStatus, Step, StepName, StepStatus,
};
use crate::egress::ssh::{Tunnel, TunnelSettings};
use crate::storage::jobs::{self, JobRow, Outcome};
use crate::storage::snapshots::Put;
use crate::storage::{StoreError, datasources};

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
        datasource_type: "unknown",
        timed: Vec::new(),
        failure: None,
    };
    let started = std::time::Instant::now();
    let ended = match steps(&mut p).await {
        Ok(()) => Ok(JobStatus::Succeeded),
        Err(Ended::Failed) => Ok(JobStatus::Failed),
        Err(Ended::Stopped(stop)) => Err(stop),
    };
    // Only jobs that ended: one stopped (retried, lease lost) ends later, elsewhere.
    if let Ok(status) = &ended {
        let ty = p.datasource_type;
        let code = p.failure.map(error_code_text).unwrap_or_default();
        metrics::counter!("onramp_jobs_total", "type" => ty, "outcome" => status.as_str(), "code" => code)
            .increment(1);
        metrics::histogram!("onramp_job_duration_seconds", "type" => ty)
            .record(started.elapsed().as_secs_f64());
        for (step, seconds) in &p.timed {
            metrics::histogram!("onramp_job_step_duration_seconds", "type" => ty, "step" => step.as_str())
                .record(*seconds);
        }
    }
    ended
}

/// The code as the contract spells it (`CREDENTIAL_TEST_FAILED`), for a label.
pub(super) fn error_code_text(code: ErrorCode) -> String {
    serde_json::to_value(code)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_default()
}

/// The job, top to bottom.
async fn steps(p: &mut Progress<'_>) -> Result<(), Ended> {
    let (deps, job) = (p.deps, p.job);
    let (config, tenancy_settings) = step(p, StepName::Validate, validate(deps, job)).await?;
    p.datasource_type = config.datasource_type().as_str();
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
    let counted = Arc::new(DiscoveryProgress::default());
    let found = step_watched(
        p,
        StepName::Discover,
        progress::scope(counted.clone(), discover(deps, net, conn, tenancy_settings)),
        Some(&counted),
    )
    .await?;
    // A test stores no snapshot: it has no cache step.
    let changes = match job.kind {
        JobKind::Test => None,
        _ => step(p, StepName::Cache, cache(deps, job, &found.snapshot)).await?,
    };
    finish(p, config.datasource_type(), found, changes).await
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
    let test = job.kind == JobKind::Test;
    let pinned = if given || test {
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
    } else if test {
        // A test records nothing: the key is shown so that the create can name it.
        if given {
            "the one the credentials give"
        } else {
            "not pinned by a test: give it as tunnel.hostKeyFingerprint when creating the datasource"
        }
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
) -> StepResult<Discovered, Said> {
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
    let mut message = format!(
        "found {} tables and {} columns in {} schemas{waited}",
        summary.tables, summary.columns, summary.schemas
    );
    // Connected, but not everything can be read: passed with a warning, not silently.
    let (schemas, relations) = found.snapshot.unreadable();
    for (names, one, many) in [
        (&schemas, "schema", "schemas"),
        (&relations, "relation", "relations"),
    ] {
        if !names.is_empty() {
            let what = if names.len() == 1 { one } else { many };
            message.push_str(&format!(
                "; {} {what} not readable: {}",
                names.len(),
                listed(names)
            ));
        }
    }
    let warning = !(schemas.is_empty() && relations.is_empty());
    if warning {
        message.push_str(
            " (grant USAGE on the schemas and SELECT on the relations, or leave them out)",
        );
    }
    Ok((found, Said { message, warning }))
}

/// Names for a message: the first ten, then how many more.
fn listed(names: &[String]) -> String {
    let mut shown = names
        .iter()
        .take(10)
        .cloned()
        .collect::<Vec<_>>()
        .join(", ");
    if names.len() > 10 {
        shown.push_str(&format!(" and {} more", names.len() - 10));
    }
    shown
}

/// Stores the snapshot in Redis, if this job may; what it changed against the
/// snapshot it replaced.
async fn cache(
    deps: &WorkerDeps,
    job: &JobRow,
    snapshot: &Arc<Snapshot>,
) -> StepResult<Option<SchemaDiff>> {
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
                .put(
                    job.org_id,
                    job.datasource_id,
                    snapshot.clone(),
                    job.seq,
                    job.id,
                )
                .await
        } else {
            Ok((Put::NotLatest, None))
        }
    };
    let (stored, replaced) = match tokio::time::timeout(s.cache_timeout, put).await {
        Ok(Ok(v)) => v,
        Ok(Err(e)) => return Err(Halt::Infra(e.to_string())),
        Err(_) => {
            return Err(Halt::Infra(format!(
                "redis did not answer within {} ms",
                s.cache_timeout.as_millis()
            )));
        }
    };
    let changes = drift::changes(replaced, snapshot).await;
    let changed = match &changes {
        Some(d) => format!(
            "; {} changes ({} breaking) since the last snapshot",
            d.summary.changes, d.summary.breaking
        ),
        None => String::new(),
    };
    let message = match stored {
        Put::Stored { version } => format!("stored snapshot version {version}{changed}"),
        Put::Superseded { by_job } => format!(
            "not stored: a newer job of this datasource ({by_job}) stored its snapshot first"
        ),
        Put::AlreadyStored => "stored already by an earlier run of this job".to_string(),
        Put::NotLatest => {
            "not stored: an update or sync of this datasource came after this job".to_string()
        }
    };
    Ok((changes, message))
}

/// Stores the success with its `datasource.ready` event.
async fn finish(
    p: &mut Progress<'_>,
    ty: DatasourceType,
    found: Discovered,
    changes: Option<SchemaDiff>,
) -> Result<(), Ended> {
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
    let changed = changes.as_ref().map(|d| drift::event(job, ty.as_str(), d));
    let outcome = Outcome {
        status: JobStatus::Succeeded,
        steps: &p.steps,
        error: None,
        result: Some(result),
        datasource_status: DatasourceStatus::Ready,
        schema_summary: Some(schema.clone()),
        // A test announces nothing: no datasource became ready.
        event: (job.kind != JobKind::Test).then_some(&event),
        schema_changes: changes.as_ref().zip(changed.as_ref()),
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
        event: (job.kind != JobKind::Test).then_some(&event),
        schema_changes: None,
    };
    jobs::finish(&deps.pool, &deps.settings, job, worker, &outcome).await?;
    Ok(())
}
