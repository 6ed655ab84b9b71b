//! The session: Athena and Glue through the AWS SDK, the connection test (the
//! workgroup, the database), and the mapping of API errors into connector errors.

use super::config::AthenaConfig;
use crate::connectors::Net;
use crate::connectors::support::aws::sdk::{
    ApiError, OwnErrorsAreFinal, common_error, config, failure, host_of,
};
use crate::connectors::{ConnectorError, Fault};

pub struct AthenaSession {
    pub(super) glue: aws_sdk_glue::Client,
    /// Where Glue's requests go, for messages.
    pub(super) glue_host: String,
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
    // One configuration, so Athena and Glue share the client, its budget and the
    // assumed role's credentials.
    let sdk = config(net, &cfg.region, cfg.endpoint.as_deref(), &cfg.auth).await?;
    let athena = aws_sdk_athena::Client::from_conf(
        aws_sdk_athena::config::Builder::from(&sdk)
            .retry_classifier(OwnErrorsAreFinal)
            .build(),
    );
    let glue = aws_sdk_glue::Client::from_conf(
        aws_sdk_glue::config::Builder::from(&sdk)
            .retry_classifier(OwnErrorsAreFinal)
            .build(),
    );
    let glue_host = host_of(cfg.endpoint.as_deref(), "glue", &cfg.region);
    let workgroup = athena
        .get_work_group()
        .work_group(&cfg.workgroup)
        .send()
        .await
        .map_err(|e| {
            api_error(
                failure(e, &host_of(cfg.endpoint.as_deref(), "athena", &cfg.region)),
                "GetWorkGroup",
                cfg,
            )
        })?;
    let configured = workgroup
        .work_group()
        .and_then(|w| w.configuration())
        .and_then(|c| c.result_configuration())
        .and_then(|r| r.output_location());
    if configured.is_none() && cfg.output_location.is_none() {
        return Err(ConnectorError::new(
            Fault::Protocol,
            format!("workgroup {} sets no query result location", cfg.workgroup),
            "give outputLocation (an s3:// location), or set one on the workgroup",
        ));
    }
    glue.get_database()
        .name(&cfg.database)
        .send()
        .await
        .map_err(|e| api_error(failure(e, &glue_host), "GetDatabase", cfg))?;
    Ok(AthenaSession { glue, glue_host })
}
