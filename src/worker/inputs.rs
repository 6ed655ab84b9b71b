//! The validate step: a job's stored inputs (its datasource's, or a test's own)
//! read, opened and checked again into the typed config.

use serde_json::Value;

use super::WorkerDeps;
use super::steps::{Halt, StepResult};
use crate::connectors::pipeline;
use crate::connectors::{ConnectorConfig, JobInputs, Upload};
use crate::domain::tenancy;
use crate::domain::{ErrorCode, JobKind};
use crate::storage::jobs::JobRow;
use crate::storage::{StoreError, datasources, test_jobs};

/// A job's stored inputs: its datasource's, or a test job's own.
struct Inputs {
    datasource_type: String,
    credentials: serde_json::Map<String, Value>,
    tenancy_settings: Option<Value>,
    defaults_used: Vec<String>,
    /// A test's uploaded file (a datasource's is read only when its type needs one).
    upload: Option<(String, Vec<u8>)>,
}

/// Reads the job's inputs, its credentials opened.
async fn load_inputs(deps: &WorkerDeps, job: &JobRow) -> Result<Inputs, Halt> {
    let unreadable = |e: StoreError| match e {
        e @ StoreError::Db(_) => Halt::Infra(e.to_string()),
        e => Halt::failed(
            ErrorCode::CredentialTestFailed,
            format!("validate: {e}"),
            Some(
                "the stored credentials cannot be read with this secret key: update the datasource",
            ),
        ),
    };
    let gone = |what: &str| {
        Halt::failed(
            ErrorCode::CredentialTestFailed,
            format!("validate: {what}"),
            None,
        )
    };
    if job.kind == JobKind::Test {
        let input = test_jobs::load(&deps.pool, &deps.key, job.org_id, job.datasource_id)
            .await
            .map_err(unreadable)?
            .ok_or_else(|| gone("the test's inputs are gone: it ended before this run"))?;
        return Ok(Inputs {
            datasource_type: input.datasource_type,
            credentials: input.credentials,
            tenancy_settings: input.tenancy_settings,
            defaults_used: input.defaults_used,
            upload: input.upload,
        });
    }
    let (record, credentials) =
        datasources::load_with_credentials(&deps.pool, &deps.key, job.org_id, job.datasource_id)
            .await
            .map_err(unreadable)?
            .ok_or_else(|| gone("the datasource was deleted before its job ran"))?;
    Ok(Inputs {
        datasource_type: record.datasource_type,
        credentials,
        tenancy_settings: record.tenancy_settings,
        defaults_used: record.defaults_used,
        upload: None,
    })
}

/// Loads the stored credentials and checks them again into the typed config, with
/// what the job adds (an uploaded file, the operator's limits).
pub(super) async fn validate(
    deps: &WorkerDeps,
    job: &JobRow,
) -> StepResult<(ConnectorConfig, Option<tenancy::TenancySettings>)> {
    let invalid = |message: String, hint: &str| {
        Halt::failed(ErrorCode::CredentialTestFailed, message, Some(hint))
    };
    let record = load_inputs(deps, job).await?;
    let credentials = record.credentials;
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
        let stored = match record.upload {
            Some(file) => Ok(Some(file)),
            None if job.kind == JobKind::Test => Ok(None),
            None => datasources::load_upload(&deps.pool, job.datasource_id).await,
        };
        match stored {
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
