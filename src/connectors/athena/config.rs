//! Athena's fields, its typed config and the config's checks.

use serde::Deserialize;

use crate::connectors::fields::{FieldSpec, NAME, text, url};
use crate::connectors::support::aws::{AwsAuth, auth};

pub const FIELDS: &[FieldSpec] = &[
    NAME,
    text(
        "region",
        32,
        "the region of the workgroup and catalog, e.g. us-east-1",
    )
    .required(),
    auth::ACCESS_KEY_ID,
    auth::SECRET_ACCESS_KEY,
    auth::ROLE_ARN,
    auth::EXTERNAL_ID,
    text("workgroup", 128, "Athena workgroup").or("\"primary\""),
    text(
        "outputLocation",
        1024,
        "s3:// location for query results, when the workgroup sets none",
    ),
    text(
        "catalog",
        128,
        "data catalog; AwsDataCatalog is the Glue Data Catalog",
    )
    .or("\"AwsDataCatalog\""),
    text("database", 255, "database (Glue database) to discover").required(),
    url(
        "endpoint",
        "one endpoint for Athena and Glue (an AWS-compatible server); AWS when absent",
    ),
    crate::connectors::schema_filters::TABLES_ONLY,
];

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AthenaConfig {
    pub region: String,
    #[serde(flatten)]
    pub auth: AwsAuth,
    pub workgroup: String,
    pub output_location: Option<String>,
    pub catalog: String,
    pub database: String,
    pub endpoint: Option<String>,
    #[serde(default)]
    pub schema_filters: crate::connectors::schema_filters::SchemaFilters,
}

impl AthenaConfig {
    pub fn check(&self) -> Result<(), Vec<crate::connectors::FieldProblem>> {
        let mut problems = crate::connectors::support::aws::region_problems(&self.region);
        problems.extend(self.auth.problems());
        if self
            .output_location
            .as_deref()
            .is_some_and(|l| !l.starts_with("s3://"))
        {
            problems.push(crate::connectors::FieldProblem::new(
                "credentials.outputLocation",
                "must be an s3:// location",
            ));
        }
        if self.catalog != "AwsDataCatalog" {
            problems.push(crate::connectors::FieldProblem::new(
                "credentials.catalog",
                "only AwsDataCatalog (the Glue Data Catalog) can be discovered",
            ));
        }
        crate::connectors::FieldProblem::none_or(problems)
    }
}
