//! The bodies the API answers with. Handlers serialise these structs, and the
//! OpenAPI document (`openapi.rs`) is derived from the same structs, so the two
//! cannot drift apart.

use crate::domain::{DatasourceId, JobId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::ToSchema;

use crate::domain::{DatasourceStatus, ErrorCode, FieldProblem};

/// A job's status as a create, update or sync answers it: always queued.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Queued {
    Queued,
}

/// Where to follow an accepted job.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct JobLinks {
    /// `GET` this for the job's state and steps.
    pub job: String,
    /// Server-Sent Events of the job's changes.
    pub events: String,
}

/// 202: the job is recorded and queued. Also the body an idempotent replay answers with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Accepted {
    pub name: String,
    /// Absent for a test job (POST /api/v2/datasource/test): it records no datasource.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub datasource_id: Option<DatasourceId>,
    pub job_id: JobId,
    pub status: Queued,
    pub links: JobLinks,
}

impl Accepted {
    pub fn new(name: &str, datasource_id: DatasourceId, job_id: JobId) -> Accepted {
        Accepted {
            datasource_id: Some(datasource_id),
            ..Accepted::test(name, job_id)
        }
    }

    /// A test job's answer: no datasource.
    pub fn test(name: &str, job_id: JobId) -> Accepted {
        Accepted {
            name: name.to_string(),
            datasource_id: None,
            job_id,
            status: Queued::Queued,
            links: JobLinks {
                job: format!("/api/v2/jobs/{job_id}"),
                events: format!("/api/v2/jobs/{job_id}/events"),
            },
        }
    }
}

/// Every answer of a create or an update, at once or after `?wait`.
#[derive(utoipa::IntoResponses)]
pub enum WriteAnswers {
    /// accepted: the job is recorded and queued
    #[response(status = 202)]
    Accepted(Accepted),
    /// with ?wait: the job succeeded
    #[response(status = 200)]
    Succeeded(Waited),
    /// an invalid request or name, or (with ?wait) the job failed on the target
    #[response(status = 400)]
    Invalid(ErrorBody),
    /// the body is over body_limit_bytes (a file over upload_limit_bytes)
    #[response(status = 413)]
    TooLarge(ErrorBody),
    /// with ?wait: the organisation holds its limit of open streams
    #[response(status = 429)]
    TooManyStreams(ErrorBody),
    /// internal error, or (with ?wait) discovery failed
    #[response(status = 500)]
    Internal(ErrorBody),
}

/// 200 after `?wait`: the job succeeded; its schema summary.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Waited {
    pub name: String,
    pub job_id: JobId,
    /// Tables and columns discovered (and, for DATABASE tenancy, the client databases).
    pub schema: Option<Value>,
}

/// A datasource as the API shows it: its settings without secrets.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct DatasourceView {
    pub name: String,
    pub datasource_id: DatasourceId,
    pub datasource_type: String,
    pub status: DatasourceStatus,
    /// The credentials as given, defaults filled in, every secret field removed.
    pub credentials: Value,
    pub tenancy_settings: Option<Value>,
    /// The summary of the last stored snapshot.
    pub schema: Option<Value>,
    pub last_job_id: Option<JobId>,
    pub created_at: chrono::DateTime<chrono::Utc>,
    pub updated_at: chrono::DateTime<chrono::Utc>,
}

impl From<&crate::storage::datasources::DatasourceRecord> for DatasourceView {
    fn from(r: &crate::storage::datasources::DatasourceRecord) -> DatasourceView {
        DatasourceView {
            name: r.name.clone(),
            datasource_id: r.id,
            datasource_type: r.datasource_type.clone(),
            status: r.status,
            credentials: r.public_config.clone(),
            tenancy_settings: r.tenancy_settings.clone(),
            schema: r.schema_summary.clone(),
            last_job_id: r.last_job_id,
            created_at: r.created_at,
            updated_at: r.updated_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Pagination {
    pub page_number: i64,
    pub page_size: i64,
    pub total: i64,
}

/// The organisation's datasources; `pagination` only with `isPagination=true`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct DatasourceList {
    pub data: Vec<DatasourceView>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pagination: Option<Pagination>,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Deleted {
    pub id: DatasourceId,
    pub message: String,
}

/// One Server-Sent Event of a job's stream.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct JobEvent {
    /// Always `job`.
    pub event: String,
    /// The number of steps that have ended.
    pub id: String,
    /// The job as JSON, as `GET /api/v2/jobs/{jobId}` answers it.
    pub data: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Alive {
    Ok,
}

/// `/healthz`: the process answers.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Liveness {
    pub status: Alive,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Availability {
    Ok,
    Unavailable,
}

impl From<bool> for Availability {
    fn from(up: bool) -> Availability {
        if up {
            Availability::Ok
        } else {
            Availability::Unavailable
        }
    }
}

/// `/readyz`: each dependency, answered within two seconds or not.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct Readiness {
    pub postgres: Availability,
    pub redis: Availability,
    pub rabbitmq: Availability,
}

/// Every error answer: `{"error": {...}}`.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct ErrorDetail {
    pub code: ErrorCode,
    pub message: String,
    /// The fields at fault, when the request was invalid.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub details: Vec<FieldProblem>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}
