//! The vocabulary shared by the API and the workers.

pub mod datasource_type;
pub mod error_code;
pub mod events;
pub mod field_problem;
pub mod ids;
pub mod job;
pub mod schema_diff;
pub mod schema_filters;
pub mod snapshot;
pub mod target_error;
pub mod tenancy;
pub mod text;
pub mod webhooks;

pub use datasource_type::DatasourceType;
pub use error_code::ErrorCode;
pub use field_problem::FieldProblem;
pub use ids::{DatasourceId, DatasourceName, DeliveryId, JobId, OrgId, WebhookId};
pub use job::{
    DatasourceStatus, JOB_ROUTING_KEY, Job, JobError, JobKind, JobMessage, JobStatus, Step,
    StepName, StepProgress, StepStatus,
};
pub use target_error::{ConnectorError, Fault};
