//! BigQuery's fields, its typed config, and the checks of the config and of the
//! service account's key file.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::connectors::FieldProblem;
use crate::connectors::fields::{FieldSpec, NAME, text, url};
use crate::connectors::support::rsa_jwt;

pub const FIELDS: &[FieldSpec] = &[
    NAME,
    text(
        "projectId",
        128,
        "the Google Cloud project whose datasets are discovered",
    )
    .required(),
    text(
        "serviceAccount",
        16384,
        "the service account's JSON key file, as text",
    )
    .required()
    .secret(),
    text(
        "location",
        64,
        "where the datasets live: US, EU or a region such as europe-west2",
    )
    .or("\"US\""),
    text("dataset", 1024, "limit discovery to this dataset"),
    url(
        "apiEndpoint",
        "the BigQuery API (a proxy or a compatible server)",
    )
    .or("\"https://bigquery.googleapis.com\""),
    crate::connectors::schema_filters::SCHEMAS_AND_TABLES_BY_CASE,
];

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BigqueryConfig {
    pub project_id: String,
    pub service_account: SecretString,
    pub location: String,
    pub dataset: Option<String>,
    pub api_endpoint: String,
    #[serde(default)]
    pub schema_filters: crate::connectors::schema_filters::SchemaFilters,
}

/// The parts of a service-account key file onramp uses.
#[derive(Deserialize)]
pub(super) struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    pub(super) client_email: Option<String>,
    pub(super) private_key: Option<String>,
    pub(super) token_uri: Option<String>,
}

impl BigqueryConfig {
    pub fn check(&self) -> Result<(), Vec<FieldProblem>> {
        let mut problems = Vec::new();
        let field = "credentials.serviceAccount";
        match serde_json::from_str::<KeyFile>(self.service_account.expose_secret()) {
            Err(_) => problems.push(FieldProblem::new(
                field,
                "must be the JSON key file of a service account",
            )),
            Ok(key) => {
                if key.kind.as_deref() != Some("service_account") {
                    problems.push(FieldProblem::new(field, "type must be \"service_account\""));
                }
                if !key.client_email.as_deref().is_some_and(|e| e.contains('@')) {
                    problems.push(FieldProblem::new(
                        field,
                        "client_email must be the service account's email",
                    ));
                }
                match key.private_key.as_deref().map(rsa_jwt::parse_key) {
                    None => problems.push(FieldProblem::new(field, "private_key is missing")),
                    Some(Err(p)) => problems.push(FieldProblem::new(
                        field,
                        format!("private_key {}", p.describe()),
                    )),
                    Some(Ok(_)) => {}
                }
            }
        }
        let loc = &self.location;
        let multi_region = loc.eq_ignore_ascii_case("US") || loc.eq_ignore_ascii_case("EU");
        let region = loc
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !multi_region && !region {
            problems.push(FieldProblem::new(
                "credentials.location",
                "must be US, EU or a region name such as us-central1",
            ));
        }
        let valid_project = self.project_id.len() >= 4
            && self.project_id.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b':' || b == b'.'
            });
        if !valid_project {
            problems.push(FieldProblem::new(
                "credentials.projectId",
                "must be a project ID: lower-case letters, digits and hyphens",
            ));
        }
        // BigQuery's own rule for dataset names; anything else could only be an attempt
        // to end the quoted name early.
        if let Some(dataset) = &self.dataset
            && !dataset
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            problems.push(FieldProblem::new(
                "credentials.dataset",
                "must be a dataset name: letters, digits and underscores",
            ));
        }
        crate::connectors::FieldProblem::none_or(problems)
    }
}
