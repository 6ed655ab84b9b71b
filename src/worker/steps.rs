//! The steps of a job as the job record shows them: each marked running, then
//! passed with its message or failed with its error, written with its `job.progress`
//! events; a failure ends the job, a fault of onramp's own stops it for a retry.

use std::time::Instant;

use serde_json::json;

use super::WorkerDeps;
use super::run_job::store_failure;
use crate::connectors::ConnectorError;
use crate::connectors::progress::DiscoveryProgress;
use crate::domain::events::{CloudEvent, JOB_PROGRESS};
use crate::domain::{
    ErrorCode, JobError, JobKind, JobStatus, Step, StepName, StepProgress, StepStatus,
};
use crate::storage::jobs::{self, JobRow};

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
    /// The datasource's type once known ("unknown" before validate), for metrics.
    pub datasource_type: &'static str,
}

pub(super) struct Progress<'a> {
    pub(super) deps: &'a WorkerDeps,
    pub(super) job: &'a JobRow,
    pub(super) steps: Vec<Step>,
    pub(super) started: Option<Instant>,
    /// Progress events not yet written: the instant steps' transitions wait for the
    /// next write, so that a job takes three progress writes, not eight.
    pub(super) deferred: Vec<CloudEvent>,
    /// Known once the validate step has read the datasource: the label of the
    /// job's metrics.
    pub(super) datasource_type: &'static str,
    /// How long each step took, recorded with the type when the job ends.
    pub(super) timed: Vec<(StepName, f64)>,
    /// The code the job failed with.
    pub(super) failure: Option<ErrorCode>,
}

impl Progress<'_> {
    pub(super) fn infra(&self, step: StepName, cause: impl std::fmt::Display) -> Stop {
        Stop::Infra(InfraFault {
            step,
            cause: cause.to_string(),
            steps: self.steps.clone(),
            datasource_type: self.datasource_type,
        })
    }

    pub(super) async fn set(
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
        if let (StepStatus::Passed | StepStatus::Warning, Some(p)) =
            (status, &mut self.steps[index].progress)
        {
            p.relations_done = p.relations_total;
        }
        // One id per run of the job (its claim), step and status.
        let event = self.progress_event(index, &format!("{status:?}"));
        self.deferred.push(event);
        // Written at once: the start of the steps that wait on the target (so that a
        // poller sees what the job waits for), a failure, and the last step's end.
        // The instant steps' transitions ride along with the next write.
        let slow_start = status == StepStatus::Running
            && matches!(
                step,
                StepName::Tunnel | StepName::Connect | StepName::Discover
            );
        let last =
            self.steps.last().is_some_and(|s| s.name == step) && status != StepStatus::Running;
        if !(slow_start || last || status == StepStatus::Failed) {
            return Ok(());
        }
        self.write(step).await
    }

    /// The `job.progress` event of the step at `index` as it stands; `moment` tells
    /// this report from the step's others (its status, or how far it got).
    fn progress_event(&self, index: usize, moment: &str) -> CloudEvent {
        let step = &self.steps[index];
        CloudEvent::new(
            JOB_PROGRESS,
            self.job.org_id,
            &self.job.datasource_name,
            json!({"jobId": self.job.id,
                   "datasourceId": (self.job.kind != JobKind::Test).then_some(self.job.datasource_id),
                   "datasourceName": self.job.datasource_name, "step": step}),
        )
        .identified_by(&[
            &self.job.id.to_string(),
            &self.job.attempts.to_string(),
            step.name.as_str(),
            moment,
        ])
    }

    /// Writes the steps and the events waiting, in one statement.
    async fn write(&mut self, step: StepName) -> Result<(), Stop> {
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

    /// Writes how far a running step has got, with its `job.progress` event.
    pub(super) async fn report(
        &mut self,
        step: StepName,
        done: usize,
        total: usize,
    ) -> Result<(), Stop> {
        let Some(index) = Step::index(&self.steps, step) else {
            return Ok(());
        };
        self.steps[index].progress = Some(StepProgress {
            relations_done: done,
            relations_total: total,
        });
        self.steps[index].message = Some(format!("read {done} of {total} relations"));
        let event = self.progress_event(index, &format!("progress {done}"));
        self.deferred.push(event);
        self.write(step).await
    }

    /// Marks the remaining steps skipped after a failure.
    pub(super) fn skip_rest(&mut self) {
        for s in &mut self.steps {
            if s.status == StepStatus::Pending {
                s.status = StepStatus::Skipped;
            }
        }
    }
}

/// A target fault: the failed step's code, message and hint.
pub(super) fn job_error(step: StepName, e: &ConnectorError) -> JobError {
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
pub(super) enum Halt {
    /// The target's or the tenant's fault: the job fails with this error.
    Failed(JobError),
    /// Something of onramp's own broke: the job is tried again later.
    Infra(String),
    /// Another worker holds the job now: write nothing more.
    LeaseLost,
}

impl Halt {
    pub(super) fn failed(code: ErrorCode, message: String, hint: Option<&str>) -> Halt {
        Halt::Failed(JobError {
            code,
            message,
            hint: hint.map(str::to_string),
        })
    }
}

/// A step passes with its value and the message shown for it, or halts the job.
pub(super) type StepResult<T, M = String> = Result<(T, M), Halt>;

/// What a step that passed says: its message, and whether it passed with a warning.
pub(super) struct Said {
    pub message: String,
    pub warning: bool,
}

impl From<String> for Said {
    fn from(message: String) -> Said {
        Said {
            message,
            warning: false,
        }
    }
}

/// Why `steps` ended early: the failure is stored, or the job must stop as it is.
pub(super) enum Ended {
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
pub(super) async fn step<T, M: Into<Said>>(
    p: &mut Progress<'_>,
    name: StepName,
    work: impl std::future::Future<Output = StepResult<T, M>>,
) -> Result<T, Ended> {
    step_watched(p, name, work, None).await
}

/// `step`, reporting `watched`'s progress on the way when the work is large: every
/// `progress_interval` at most, once `progress_min_relations` relations are known.
pub(super) async fn step_watched<T, M: Into<Said>>(
    p: &mut Progress<'_>,
    name: StepName,
    work: impl std::future::Future<Output = StepResult<T, M>>,
    watched: Option<&DiscoveryProgress>,
) -> Result<T, Ended> {
    p.set(name, StepStatus::Running, None).await?;
    let step_started = Instant::now();
    let settings = &p.deps.settings;
    let (every, large) = (settings.progress_interval, settings.progress_min_relations);
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tokio::pin!(work);
    let mut reported = None;
    let outcome = loop {
        tokio::select! {
            outcome = &mut work => break outcome,
            _ = tick.tick(), if watched.is_some() => {
                let Some((done, total)) = watched.map(DiscoveryProgress::read) else {
                    continue;
                };
                if total >= large.max(1) && reported != Some(done) {
                    p.report(name, done, total).await?;
                    reported = Some(done);
                }
            }
        }
    };
    p.timed.push((name, step_started.elapsed().as_secs_f64()));
    match outcome {
        Ok((value, said)) => {
            let said: Said = said.into();
            let status = if said.warning {
                StepStatus::Warning
            } else {
                StepStatus::Passed
            };
            p.set(name, status, Some(said.message)).await?;
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

pub(super) async fn fail(
    p: &mut Progress<'_>,
    step: StepName,
    error: JobError,
) -> Result<JobStatus, Stop> {
    p.set(step, StepStatus::Failed, Some(error.message.clone()))
        .await?;
    p.failure = Some(error.code);
    p.skip_rest();
    store_failure(p.deps, p.job, Some(p.deps.id), &p.steps, &error)
        .await
        .map_err(|e| p.infra(step, e))?;
    Ok(JobStatus::Failed)
}
