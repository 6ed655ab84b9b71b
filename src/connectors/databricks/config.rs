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
    text("accessToken", 1024, "personal access token")
        .required()
        .secret(),
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
];

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DatabricksConfig {
    pub host: String,
    pub http_path: String,
    pub access_token: SecretString,
    pub catalog: String,
    pub schema: Option<String>,
    pub endpoint: Option<String>,
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
        if self.warehouse_id().is_none() {
            return Err(vec![FieldProblem::new(
                "credentials.httpPath",
                "must be /sql/1.0/warehouses/<warehouse id>",
            )]);
        }
        Ok(())
    }
}
