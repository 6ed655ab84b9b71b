//! The session: the Athena and Glue JSON API, the connection test (the workgroup,
//! the database), and the mapping of API errors into connector errors.

use serde_json::json;

use super::config::AthenaConfig;
use crate::connectors::Net;
use crate::connectors::support::aws::json_api::{ApiError, AwsJson, common_error};
use crate::connectors::{ConnectorError, Fault};

pub struct AthenaSession {
    pub(super) api: AwsJson,
}

pub(super) fn api_error(
    result: Result<ApiError, ConnectorError>,
    what: &str,
    cfg: &AthenaConfig,
) -> ConnectorError {
    let e = match result {
        Ok(e) => e,
        Err(transport) => return transport,
    };
    if let Some(common) = common_error(&e) {
        return common;
    }
    match e.kind.as_str() {
        "EntityNotFoundException" => ConnectorError::new(
            Fault::UnknownDatabase,
            format!(
                "database {} does not exist in the Glue Data Catalog",
                cfg.database
            ),
            "check the database name and the region",
        ),
        "InvalidRequestException" if what == "GetWorkGroup" => ConnectorError::new(
            Fault::UnknownDatabase,
            format!("workgroup {} does not exist: {}", cfg.workgroup, e.message),
            "check the workgroup name and the region",
        ),
        _ => ConnectorError::new(
            Fault::Protocol,
            format!(
                "{what} answered http {}: {} {}",
                e.status, e.kind, e.message
            ),
            "check the endpoint and region",
        ),
    }
}

pub async fn connect(cfg: &AthenaConfig, net: &Net) -> Result<AthenaSession, ConnectorError> {
    let api = AwsJson {
        client: net.http()?,
        endpoint: cfg
            .endpoint
            .as_deref()
            .map(|e| e.parse().expect("validated url")),
        region: cfg.region.clone(),
        access_key_id: cfg.access_key_id.clone(),
        secret_access_key: cfg.secret_access_key.clone(),
    };
    let workgroup = api
        .call(
            "athena",
            "AmazonAthena.GetWorkGroup",
            &json!({"WorkGroup": cfg.workgroup}),
        )
        .await
        .map_err(|e| api_error(e, "GetWorkGroup", cfg))?;
    let configured =
        workgroup["WorkGroup"]["Configuration"]["ResultConfiguration"]["OutputLocation"].as_str();
    if configured.is_none() && cfg.output_location.is_none() {
        return Err(ConnectorError::new(
            Fault::Protocol,
            format!("workgroup {} sets no query result location", cfg.workgroup),
            "give outputLocation (an s3:// location), or set one on the workgroup",
        ));
    }
    api.call(
        "glue",
        "AWSGlue.GetDatabase",
        &json!({"Name": cfg.database}),
    )
    .await
    .map_err(|e| api_error(e, "GetDatabase", cfg))?;
    Ok(AthenaSession { api })
}
