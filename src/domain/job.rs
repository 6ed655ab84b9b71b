//! Jobs: what the API records, the worker advances and clients poll.

use super::{DatasourceId, JobId, OrgId};
use serde::{Deserialize, Serialize};

use super::ErrorCode;

/// Stored as text (`create`, `update`, `sync`, `test`), as in the API.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum JobKind {
    Create,
    Update,
    Sync,
    /// A create body run without saving: no datasource, no snapshot, no
    /// `datasource.*` event (POST /api/v2/datasource/test).
    Test,
}

/// Stored as text (`queued`, `running`, `succeeded`, `failed`), as in the API.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum JobStatus {
    Queued,
    Running,
    Succeeded,
    Failed,
}

impl JobStatus {
    pub fn is_final(self) -> bool {
        matches!(self, JobStatus::Succeeded | JobStatus::Failed)
    }

    /// As in the API, the database and metric labels.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Queued => "queued",
            JobStatus::Running => "running",
            JobStatus::Succeeded => "succeeded",
            JobStatus::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StepName {
    Validate,
    /// Only in jobs of a datasource reached through an SSH bastion.
    Tunnel,
    Connect,
    Discover,
    Cache,
}

impl StepName {
    pub const ALL: [StepName; 4] = [
        StepName::Validate,
        StepName::Connect,
        StepName::Discover,
        StepName::Cache,
    ];

    /// The code a failure in this step is reported with.
    pub fn failure_code(self) -> ErrorCode {
        match self {
            StepName::Validate | StepName::Tunnel | StepName::Connect => {
                ErrorCode::CredentialTestFailed
            }
            StepName::Discover | StepName::Cache => ErrorCode::SchemaCacheFailed,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            StepName::Validate => "validate",
            StepName::Tunnel => "tunnel",
            StepName::Connect => "connect",
            StepName::Discover => "discover",
            StepName::Cache => "cache",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum StepStatus {
    Pending,
    Running,
    Passed,
    /// Passed, with something the user should know (Fivetran's vocabulary): the
    /// credentials connect, but some relations cannot be read.
    Warning,
    Failed,
    Skipped,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Step {
    pub name: StepName,
    pub status: StepStatus,
    pub duration_ms: Option<u64>,
    pub message: Option<String>,
    /// While a large discovery runs: how many of its relations are read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<StepProgress>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct StepProgress {
    pub relations_done: usize,
    pub relations_total: usize,
}

impl Step {
    /// The steps of a job without a tunnel.
    pub fn pending_all() -> Vec<Step> {
        Step::pending_for(false)
    }

    /// The steps of a job, with the `tunnel` step when the datasource has one.
    pub fn pending_for(tunnel: bool) -> Vec<Step> {
        let names = StepName::ALL.iter().copied();
        let tunnel = tunnel.then_some(StepName::Tunnel);
        names
            .take(1)
            .chain(tunnel)
            .chain(StepName::ALL.iter().copied().skip(1))
            .map(|name| Step {
                name,
                status: StepStatus::Pending,
                duration_ms: None,
                message: None,
                progress: None,
            })
            .collect()
    }

    /// The steps of a test job: those of a create without `cache` (it stores nothing).
    pub fn pending_test(tunnel: bool) -> Vec<Step> {
        let mut steps = Step::pending_for(tunnel);
        steps.retain(|s| s.name != StepName::Cache);
        steps
    }

    /// Where `name` is in `steps`.
    pub fn index(steps: &[Step], name: StepName) -> Option<usize> {
        steps.iter().position(|s| s.name == name)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct JobError {
    pub code: ErrorCode,
    pub message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

/// A job as the API shows it.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Job {
    pub job_id: JobId,
    pub kind: JobKind,
    pub datasource_name: String,
    /// None for a test job: it names no datasource.
    pub datasource_id: Option<DatasourceId>,
    pub status: JobStatus,
    pub steps: Vec<Step>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<JobError>,
    pub attempts: i32,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub finished_at: Option<chrono::DateTime<chrono::Utc>>,
    /// Set on success: the schema summary and, for DATABASE tenancy, the client databases.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schema: Option<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub result: Option<serde_json::Value>,
}

/// A datasource's state: waiting for its job, its snapshot stored, or its last job failed.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, sqlx::Type, utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
#[sqlx(type_name = "text", rename_all = "lowercase")]
pub enum DatasourceStatus {
    Pending,
    Ready,
    Failed,
}

/// The routing key job messages are published with on the jobs exchange.
pub const JOB_ROUTING_KEY: &str = "job";

/// The message on the jobs queue. It names the job; it never carries credentials.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct JobMessage {
    pub version: u32,
    pub job_id: JobId,
    pub org_id: OrgId,
    pub datasource_id: DatasourceId,
    pub kind: JobKind,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The text a status is stored as (sqlx, `rename_all = "lowercase"`) is the API's.
    #[test]
    fn a_status_reads_the_same_in_the_api_and_the_database() {
        for status in [
            JobStatus::Queued,
            JobStatus::Running,
            JobStatus::Succeeded,
            JobStatus::Failed,
        ] {
            let api = serde_json::to_value(status).expect("serialises");
            assert_eq!(api, serde_json::Value::String(status.as_str().into()));
        }
    }
}
