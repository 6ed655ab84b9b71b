//! Workers: consume job messages with prefetch equal to their concurrency, run each
//! job, and decide in one place whether a delivery is acknowledged, retried later or
//! dead-lettered. SIGTERM stops taking work and drains what is in flight.

mod drift;
mod inputs;
pub mod reconcile;
pub mod run_job;
mod steps;

use crate::domain::JobId;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicCancelOptions, BasicConsumeOptions, BasicNackOptions, BasicQosOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use sqlx::PgPool;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;
use uuid::Uuid;

use crate::config::Settings;
use crate::domain::{JobError, JobMessage, StepStatus};
use crate::queue::{Broker, OutgoingMessage};
use crate::storage::crypto::SecretKey;
use crate::storage::jobs::{self, Claim};
use crate::storage::snapshots::SnapshotStore;
use crate::telemetry;

/// What a tenant reads when onramp's own PostgreSQL, Redis or RabbitMQ failed.
const INFRA_FAULT: &str = "onramp's own database, cache or broker was unavailable";

/// Header counting how many times onramp's infrastructure failed this job.
const ATTEMPT_HEADER: &str = "x-onramp-attempt";

pub struct WorkerDeps {
    pub id: Uuid,
    pub settings: Arc<Settings>,
    pub pool: PgPool,
    pub store: Arc<SnapshotStore>,
    pub key: SecretKey,
    /// Publishes delayed retries.
    pub broker: Arc<Broker>,
    /// Every connection to a target goes through it.
    pub net: crate::connectors::Net,
}

/// What becomes of a delivery.
#[derive(Debug, PartialEq, Eq)]
enum Disposition {
    Ack,
    /// Publish again through the retry queue of this delay, then acknowledge.
    RetryAfter {
        delay_ms: u64,
        next_attempt: u32,
    },
    /// Send to the dead-letter queue.
    DeadLetter,
    /// Return to the queue at once (shutdown before the job started).
    Requeue,
}

pub async fn run(deps: Arc<WorkerDeps>, shutdown: CancellationToken) {
    let in_flight: Arc<Mutex<HashSet<JobId>>> = Arc::default();
    let mut backoff = Duration::from_millis(200);
    let mut tasks = JoinSet::new();
    while !shutdown.is_cancelled() {
        let consumed = consume(&deps, &shutdown, &mut tasks, &in_flight).await;
        if let Err(e) = consumed {
            tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "worker lost rabbitmq; reconnecting");
            tokio::select! {
                _ = tokio::time::sleep(backoff) => {}
                _ = shutdown.cancelled() => {}
            }
            backoff = (backoff * 2).min(Duration::from_secs(5));
        } else {
            backoff = Duration::from_millis(200);
        }
    }
    drain(&deps, tasks, &in_flight).await;
}

async fn consume(
    deps: &Arc<WorkerDeps>,
    shutdown: &CancellationToken,
    tasks: &mut JoinSet<()>,
    in_flight: &Arc<Mutex<HashSet<JobId>>>,
) -> Result<(), crate::queue::QueueError> {
    let conn = Broker::connect(&deps.settings, "worker").await?;
    let channel = conn.create_channel().await?;
    let prefetch = deps.settings.worker_concurrency.min(u16::MAX as usize) as u16;
    channel
        .basic_qos(prefetch, BasicQosOptions::default())
        .await?;
    let tag = format!("onramp-worker-{}", deps.id);
    let mut consumer = channel
        .basic_consume(
            deps.settings.jobs_queue().as_str().into(),
            tag.as_str().into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await?;
    tracing::info!(worker = %deps.id, queue = %deps.settings.jobs_queue(), prefetch, "worker consuming");
    loop {
        tokio::select! {
            next = consumer.next() => match next {
                Some(Ok(delivery)) => {
                    let deps = deps.clone();
                    let in_flight = in_flight.clone();
                    let shutdown = shutdown.clone();
                    tasks.spawn(async move {
                        // A panic in handling (not in the job: `process` catches those)
                        // would leave the delivery unacknowledged and its prefetch slot
                        // taken: the delivery is dead-lettered instead. An acker used
                        // already ignores this.
                        let acker = delivery.acker.clone();
                        let handled = std::panic::AssertUnwindSafe(handle(&deps, delivery, &in_flight, &shutdown))
                            .catch_unwind()
                            .await;
                        if handled.is_err() {
                            tracing::error!("job handler panicked outside the job; dead-lettering its delivery");
                            let _ = acker.nack(BasicNackOptions { requeue: false, ..Default::default() }).await;
                        }
                    });
                }
                Some(Err(e)) => return Err(e.into()),
                None => return Err(crate::queue::QueueError::Closed),
            },
            Some(_) = tasks.join_next(), if !tasks.is_empty() => {}
            _ = shutdown.cancelled() => {
                // Stop new deliveries; unacknowledged prefetched ones go back to the queue.
                let _ = channel.basic_cancel(tag.as_str().into(), BasicCancelOptions::default()).await;
                let limit = deps.settings.drain_timeout;
                let waited = tokio::time::timeout(limit, async {
                    while tasks.join_next().await.is_some() {}
                }).await;
                if waited.is_err() {
                    tracing::warn!(jobs = tasks.len(), "drain timed out; returning unfinished jobs to the queue");
                    tasks.abort_all();
                    while tasks.join_next().await.is_some() {}
                }
                let _ = channel.close(200, "worker stopping".into()).await;
                let _ = conn.close(200, "worker stopping".into()).await;
                return Ok(());
            }
        }
    }
}

/// After the channel closed: give back the leases of jobs that were cut short so the
/// next worker need not wait for them to expire.
async fn drain(deps: &WorkerDeps, mut tasks: JoinSet<()>, in_flight: &Mutex<HashSet<JobId>>) {
    tasks.abort_all();
    while tasks.join_next().await.is_some() {}
    let cut: Vec<JobId> = in_flight.lock().expect("in-flight lock").drain().collect();
    for job_id in cut {
        if let Err(e) = jobs::release_unstarted(&deps.pool, job_id, deps.id).await {
            tracing::warn!(job_id = %job_id, error = %e, "could not release job on shutdown");
        }
    }
    tracing::info!(worker = %deps.id, "worker stopped");
}

fn header<'a>(delivery: &'a Delivery, name: &str) -> Option<&'a AMQPValue> {
    delivery.properties.headers().as_ref()?.inner().get(name)
}

fn attempt_of(delivery: &Delivery) -> u32 {
    match header(delivery, ATTEMPT_HEADER) {
        Some(AMQPValue::LongString(s)) => s.to_string().parse().unwrap_or(1),
        Some(AMQPValue::LongUInt(n)) => *n,
        Some(AMQPValue::LongLongInt(n)) => *n as u32,
        _ => 1,
    }
}

async fn handle(
    deps: &WorkerDeps,
    delivery: Delivery,
    in_flight: &Mutex<HashSet<JobId>>,
    shutdown: &CancellationToken,
) {
    let message: JobMessage = match serde_json::from_slice(&delivery.data) {
        Ok(m) => m,
        Err(e) => {
            tracing::error!(error = %e, "job message is malformed; dead-lettering it");
            settle(deps, &delivery, None, Disposition::DeadLetter).await;
            return;
        }
    };
    let carried: HashMap<String, String> = ["traceparent", "tracestate"]
        .iter()
        .filter_map(|name| match header(&delivery, name) {
            Some(AMQPValue::LongString(v)) => Some((name.to_string(), v.to_string())),
            _ => None,
        })
        .collect();
    let span = tracing::info_span!("job", job_id = %message.job_id, org_id = %message.org_id, trace_id = tracing::field::Empty);
    // The request's trace continues here, through the message headers.
    telemetry::continue_trace(&span, &carried);
    let trace = telemetry::trace_parent_of(&span, carried.get("traceparent").map(String::as_str));
    span.record("trace_id", trace.trace_id.as_str());
    async {
        let attempt = attempt_of(&delivery);
        let disposition = if shutdown.is_cancelled() {
            Disposition::Requeue
        } else {
            process(deps, &message, attempt, in_flight).await
        };
        settle(deps, &delivery, Some(&message), disposition).await;
    }
    .instrument(span)
    .await
}

async fn process(
    deps: &WorkerDeps,
    message: &JobMessage,
    attempt: u32,
    in_flight: &Mutex<HashSet<JobId>>,
) -> Disposition {
    let s = &deps.settings;
    let lease = s.job_lease;
    let retry = |attempt: u32| Disposition::RetryAfter {
        delay_ms: s.retry_delay(attempt).as_millis() as u64,
        next_attempt: attempt + 1,
    };
    let job = match jobs::claim(&deps.pool, message.job_id, deps.id, lease).await {
        Ok(Claim::Claimed(job)) => job,
        Ok(Claim::AlreadyFinal) => {
            tracing::info!("job already finished; acknowledging redelivery");
            return Disposition::Ack;
        }
        Ok(Claim::Missing) => {
            tracing::warn!("job does not exist; dropping message");
            return Disposition::Ack;
        }
        // A live lease: look again later without spending an attempt.
        Ok(Claim::Held) => return retry(1).with_attempt(attempt),
        Err(e) => {
            tracing::warn!(error = %e, attempt, "postgres unavailable while claiming job");
            return if attempt < s.retry_max_attempts {
                retry(attempt)
            } else {
                retry(s.retry_max_attempts)
            };
        }
    };
    // Every worker that held this job before stopped while running it (its lease ran
    // out): a job that kills its process must not go round every worker for ever.
    if job.takeovers as u32 + 1 >= s.job_delivery_limit {
        tracing::error!(
            takeovers = job.takeovers,
            "job was taken over from workers that all stopped while running it; failing it"
        );
        return fail_internal(
            deps,
            &job,
            format!(
                "the job was taken over from {} workers that each stopped while running it; it was not tried again",
                job.takeovers
            ),
        )
        .await
        .unwrap_or_else(|| retry(s.retry_max_attempts).with_attempt(attempt));
    }
    in_flight.lock().expect("in-flight lock").insert(job.id);
    metrics::gauge!("onramp_jobs_in_flight").increment(1.0);
    // Renews the lease while the job runs; stops when dropped, even if this task is
    // aborted. A renewal that finds the lease gone (it ran out, another worker took
    // the job) stops the job: this worker writes nothing more. So does a lease that
    // could not be renewed before it ran out (the database did not answer): another
    // worker may hold the job by now, and two would reach the same target for it.
    let lost = CancellationToken::new();
    let unrenewed = CancellationToken::new();
    let heartbeat = AbortOnDrop({
        let pool = deps.pool.clone();
        let (job_id, worker) = (job.id, deps.id);
        let (lost, unrenewed) = (lost.clone(), unrenewed.clone());
        tokio::spawn(async move {
            // The claim has just set the lease.
            let mut held_until = tokio::time::Instant::now() + lease;
            loop {
                tokio::time::sleep(lease / 3).await;
                let asked = tokio::time::Instant::now();
                let renewed =
                    tokio::time::timeout(lease / 3, jobs::heartbeat(&pool, job_id, worker, lease))
                        .await;
                match renewed {
                    Ok(Ok(true)) => held_until = asked + lease,
                    Ok(Ok(false)) => return lost.cancel(),
                    // Unknown: stop before the lease can have run out.
                    _ if tokio::time::Instant::now() + lease / 3 >= held_until => {
                        return unrenewed.cancel();
                    }
                    _ => {}
                }
            }
        })
    });
    let started = std::time::Instant::now();
    // A panic in the job (a server's answer that reached a bug) fails that job and
    // keeps the worker's slot; it never leaves a delivery unacknowledged.
    let running = std::panic::AssertUnwindSafe(run_job::run(deps, &job)).catch_unwind();
    let result = tokio::select! {
        result = running => result,
        _ = lost.cancelled() => Ok(Err(run_job::Stop::LeaseLost)),
        _ = unrenewed.cancelled() => Ok(Err(run_job::Stop::LeaseUnrenewed)),
    };
    drop(heartbeat);
    in_flight.lock().expect("in-flight lock").remove(&job.id);
    metrics::gauge!("onramp_jobs_in_flight").decrement(1.0);
    let result = match result {
        Ok(result) => result,
        Err(panic) => {
            let error_id = Uuid::now_v7();
            tracing::error!(error_id = %error_id, panic = panic_text(&panic), "job panicked; failing it");
            metrics::counter!("onramp_jobs_panicked_total").increment(1);
            return fail_internal(
                deps,
                &job,
                format!("the job stopped on an internal error (error id {error_id})"),
            )
            .await
            .unwrap_or_else(|| retry(s.retry_max_attempts).with_attempt(attempt));
        }
    };
    match result {
        Ok(status) => {
            tracing::info!(status = ?status, duration_ms = started.elapsed().as_millis() as u64, "job finished");
            Disposition::Ack
        }
        Err(run_job::Stop::LeaseLost) => {
            metrics::counter!("onramp_jobs_total", "outcome" => "lease_lost").increment(1);
            tracing::warn!(
                "lost the job's lease while running it; another worker holds it, nothing more is written"
            );
            Disposition::Ack
        }
        Err(run_job::Stop::LeaseUnrenewed) => {
            metrics::counter!("onramp_jobs_total", "outcome" => "lease_unrenewed").increment(1);
            tracing::warn!(
                "could not renew the job's lease before it ran out; the job goes back to the queue for whoever holds it next"
            );
            Disposition::Requeue
        }
        Err(run_job::Stop::Infra(fault)) if attempt < s.retry_max_attempts => {
            let delay = s.retry_delay(attempt);
            // Tenants read the step; the cause (driver text of onramp's own servers)
            // goes only to the log, under an id the step quotes.
            let error_id = Uuid::now_v7();
            tracing::warn!(error_id = %error_id, step = fault.step.as_str(), cause = %fault.cause, attempt, retry_in_ms = delay.as_millis() as u64, "infrastructure fault; retrying job later");
            let mut steps = fault.steps.clone();
            if let Some(i) = crate::domain::Step::index(&steps, fault.step) {
                steps[i].status = StepStatus::Failed;
                steps[i].message = Some(format!(
                    "{}: {INFRA_FAULT} (error id {error_id}; attempt {attempt}, retrying in {} ms)",
                    fault.step.as_str(),
                    delay.as_millis()
                ));
            }
            let _ = jobs::release_for_retry(&deps.pool, job.id, deps.id, &steps).await;
            retry(attempt)
        }
        Err(run_job::Stop::Infra(fault)) => {
            let error_id = Uuid::now_v7();
            tracing::error!(error_id = %error_id, step = fault.step.as_str(), cause = %fault.cause, attempt, "infrastructure fault on the last attempt; failing job");
            let mut steps = fault.steps.clone();
            if let Some(i) = crate::domain::Step::index(&steps, fault.step) {
                steps[i].status = StepStatus::Failed;
                steps[i].message = Some(format!(
                    "{}: {INFRA_FAULT} (error id {error_id})",
                    fault.step.as_str()
                ));
            }
            for st in &mut steps {
                if st.status == StepStatus::Pending || st.status == StepStatus::Running {
                    st.status = StepStatus::Skipped;
                }
            }
            let error = JobError {
                code: fault.step.failure_code(),
                message: format!("{}: {INFRA_FAULT} (error id {error_id}; gave up after {attempt} attempts)", fault.step.as_str()),
                hint: Some("onramp's own storage or cache was unavailable: retry with a sync once it is back".into()),
            };
            match run_job::store_failure(deps, &job, Some(deps.id), &steps, &error).await {
                Ok(()) => {
                    count_failed(fault.datasource_type, error.code);
                    Disposition::DeadLetter
                }
                // Nothing may be dead-lettered while its job still reads as running.
                Err(_) => retry(s.retry_max_attempts).with_attempt(attempt),
            }
        }
    }
}

/// A job failed outside the steps' own accounting (onramp's servers gave out, a
/// panic, too many takeovers): counted with the jobs that ended.
fn count_failed(datasource_type: &'static str, code: crate::domain::ErrorCode) {
    metrics::counter!(
        "onramp_jobs_total",
        "type" => datasource_type,
        "outcome" => "failed",
        "code" => run_job::error_code_text(code)
    )
    .increment(1);
}

/// What a panic carried, for the operator's log only.
fn panic_text(panic: &(dyn std::any::Any + Send)) -> &str {
    panic
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| panic.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message")
}

/// Fails `job` with `INTERNAL_SERVER_ERROR` and a message without internals; the
/// steps it had reached stay as they were, the one running is marked failed.
/// `Some(DeadLetter)` once stored, `None` when storing failed (retry later).
async fn fail_internal(
    deps: &WorkerDeps,
    job: &jobs::JobRow,
    message: String,
) -> Option<Disposition> {
    let mut steps: Vec<crate::domain::Step> = serde_json::from_value(job.steps.clone())
        .unwrap_or_else(|_| crate::domain::Step::pending_all());
    if let Ok(Some(now)) = jobs::get(&deps.pool, job.org_id, job.id).await
        && let Ok(current) = serde_json::from_value(now.steps)
    {
        steps = current;
    }
    let reached = steps
        .iter()
        .position(|st| st.status == StepStatus::Running)
        .or_else(|| steps.iter().position(|st| st.status == StepStatus::Pending));
    if let Some(i) = reached {
        steps[i].status = StepStatus::Failed;
        steps[i].message = Some(message.clone());
    }
    for st in &mut steps {
        if st.status == StepStatus::Pending || st.status == StepStatus::Running {
            st.status = StepStatus::Skipped;
        }
    }
    let error = JobError {
        code: crate::domain::ErrorCode::InternalServerError,
        message,
        hint: Some("this is a bug in onramp, not a fault of the datasource: the operator's log has the cause under this error id; a sync retries the job".into()),
    };
    // Stored under this worker's lease: no other worker's run is overwritten.
    match run_job::store_failure(deps, job, Some(deps.id), &steps, &error).await {
        Ok(()) => {
            // Failed before (or while) its steps ran: its type is not known here.
            count_failed("unknown", error.code);
            Some(Disposition::DeadLetter)
        }
        Err(e) => {
            tracing::warn!(error = %e, "could not store the failure of a job; retrying");
            None
        }
    }
}

impl Disposition {
    /// The same retry without spending an attempt.
    fn with_attempt(self, attempt: u32) -> Disposition {
        match self {
            Disposition::RetryAfter { delay_ms, .. } => Disposition::RetryAfter {
                delay_ms,
                next_attempt: attempt,
            },
            other => other,
        }
    }
}

struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// The one place a delivery is acknowledged, retried later or dead-lettered.
async fn settle(
    deps: &WorkerDeps,
    delivery: &Delivery,
    message: Option<&JobMessage>,
    disposition: Disposition,
) {
    match disposition {
        Disposition::DeadLetter => {
            metrics::counter!("onramp_jobs_dead_lettered_total").increment(1)
        }
        Disposition::RetryAfter { .. } => {
            metrics::counter!("onramp_job_retries_total").increment(1)
        }
        _ => {}
    }
    let outcome = match disposition {
        Disposition::Ack => delivery.ack(BasicAckOptions::default()).await,
        Disposition::DeadLetter => {
            delivery
                .nack(BasicNackOptions {
                    requeue: false,
                    ..Default::default()
                })
                .await
        }
        Disposition::Requeue => {
            delivery
                .nack(BasicNackOptions {
                    requeue: true,
                    ..Default::default()
                })
                .await
        }
        Disposition::RetryAfter {
            delay_ms,
            next_attempt,
        } => {
            let mut headers: Vec<(String, String)> =
                vec![(ATTEMPT_HEADER.into(), next_attempt.to_string())];
            if let Some(AMQPValue::LongString(tp)) = header(delivery, "traceparent") {
                headers.push(("traceparent".into(), tp.to_string()));
            }
            let retry = OutgoingMessage {
                exchange: deps.settings.retry_exchange(),
                routing_key: nearest_retry_delay(&deps.settings, delay_ms).to_string(),
                payload: delivery.data.clone(),
                message_id: message.map(|m| m.job_id.to_string()).unwrap_or_default(),
                content_type: "application/json",
                headers,
            };
            match deps.broker.publish_all(std::slice::from_ref(&retry)).await {
                Ok(()) => delivery.ack(BasicAckOptions::default()).await,
                Err(e) => {
                    // Not a hot loop: wait before handing the message back.
                    tracing::warn!(error = %e, "could not schedule retry; returning message to the queue");
                    tokio::time::sleep(deps.settings.retry_base_delay).await;
                    delivery
                        .nack(BasicNackOptions {
                            requeue: true,
                            ..Default::default()
                        })
                        .await
                }
            }
        }
    };
    if let Err(e) = outcome {
        // The channel is gone: the broker redelivers the message, and the stored state decides.
        tracing::warn!(error = %e, "could not settle delivery");
    }
}

/// The declared retry queue whose delay is closest to `delay_ms`.
fn nearest_retry_delay(settings: &Settings, delay_ms: u64) -> u64 {
    crate::queue::retry_delays(settings)
        .into_iter()
        .min_by_key(|d| d.abs_diff(delay_ms))
        .unwrap_or(delay_ms)
}
