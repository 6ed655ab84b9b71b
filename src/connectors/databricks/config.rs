//! Databricks's fields, its typed config and the check of the warehouse's HTTP path.

use secrecy::SecretString;
use serde::Deserialize;

use crate::connectors::FieldProblem;
use crate::connectors::fields::{FieldSpec, HOST, NAME, text, url};

pub const FIELDS: &[FieldSpec] = &[
    NAME,
    FieldSpec {
        description: "workspace host name, e.g. dbc-1234.cloud.databricks.com",
        ..HOST
    },
    text(
        "httpPath",
        512,
        "the SQL warehouse's HTTP path, /sql/1.0/warehouses/<id>",
    )
    .required(),
    text(
        "accessToken",
        1024,
        "personal access token; or give clientId and clientSecret",
    )
    .secret(),
    text(
        "clientId",
        255,
        "a service principal's OAuth client id (machine-to-machine); with clientSecret",
    ),
    text("clientSecret", 1024, "the service principal's OAuth secret").secret(),
    text("catalog", 255, "Unity Catalog catalog to discover").required(),
    text(
        "schema",
        255,
        "limit discovery to this schema; all schemas of the catalog when absent",
    ),
    url(
        "endpoint",
        "the workspace URL when it is not https://<host> (a proxy or a compatible server)",
    ),
    crate::connectors::schema_filters::SCHEMAS_AND_TABLES,
];

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatabricksConfig {
    pub host: String,
    pub http_path: String,
    pub access_token: Option<SecretString>,
    pub client_id: Option<String>,
    pub client_secret: Option<SecretString>,
    pub catalog: String,
    pub schema: Option<String>,
    pub endpoint: Option<String>,
    #[serde(default)]
    pub schema_filters: crate::connectors::schema_filters::SchemaFilters,
}

impl DatabricksConfig {
    /// The warehouse id from the HTTP path `/sql/1.0/warehouses/<id>`.
    pub fn warehouse_id(&self) -> Option<&str> {
        self.http_path
            .trim_end_matches('/')
            .strip_prefix("/sql/1.0/warehouses/")
            .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_alphanumeric()))
    }

    pub fn check(&self) -> Result<(), Vec<FieldProblem>> {
        let mut problems = Vec::new();
        if self.warehouse_id().is_none() {
            problems.push(FieldProblem::new(
                "credentials.httpPath",
                "must be /sql/1.0/warehouses/<warehouse id>",
            ));
        }
        let oauth = (self.client_id.is_some(), self.client_secret.is_some());
        match (self.access_token.is_some(), oauth) {
            (true, (false, false)) | (false, (true, true)) => {}
            (false, (false, false)) => problems.push(FieldProblem::new(
                "credentials.accessToken",
                "give an accessToken, or a clientId and clientSecret",
            )),
            (true, _) => problems.push(FieldProblem::new(
                "credentials.accessToken",
                "give either an accessToken or a clientId and clientSecret, not both",
            )),
            (false, (true, false)) => problems.push(FieldProblem::new(
                "credentials.clientSecret",
                "is required with clientId",
            )),
            (false, (false, true)) => problems.push(FieldProblem::new(
                "credentials.clientId",
                "is required with clientSecret",
            )),
        }
        FieldProblem::none_or(problems)
    }
}
