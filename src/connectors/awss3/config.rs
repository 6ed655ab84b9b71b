//! S3's fields, its typed config and the config's checks.

use serde::Deserialize;

use crate::connectors::fields::{FieldKind, FieldSpec, NAME, text, url};
use crate::connectors::support::aws::{AwsAuth, auth};

pub const FIELDS: &[FieldSpec] = &[
    NAME,
    text("region", 32, "the bucket's region, e.g. us-east-1").required(),
    text("bucket", 63, "bucket name").at_least(3).required(),
    text("prefix", 1024, "discover only keys under this prefix").at_least(0),
    auth::ACCESS_KEY_ID,
    auth::SECRET_ACCESS_KEY,
    auth::ROLE_ARN,
    auth::EXTERNAL_ID,
    url(
        "endpoint",
        "endpoint of an S3-compatible store (path-style requests); AWS when absent",
    ),
    FieldSpec {
        name: "mode",
        kind: FieldKind::OneOf(&["File", "Folder"]),
        required: false,
        default: Some("\"File\""),
        secret: false,
        description: "File: each object is a table; Folder: each folder of objects is a table",
    },
    crate::connectors::schema_filters::TABLES_ONLY_BY_CASE,
];

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Config {
    pub region: String,
    pub bucket: String,
    pub prefix: Option<String>,
    #[serde(flatten)]
    pub auth: AwsAuth,
    pub endpoint: Option<String>,
    pub mode: String,
    #[serde(default)]
    pub schema_filters: crate::connectors::schema_filters::SchemaFilters,
}

impl S3Config {
    /// Checks what the field table cannot: the region's and bucket's characters, and
    /// keys or a role.
    pub fn check(&self) -> Result<(), Vec<crate::connectors::FieldProblem>> {
        let mut problems = crate::connectors::support::aws::region_problems(&self.region);
        problems.extend(self.auth.problems());
        let b = &self.bucket;
        if !b
            .bytes()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == b'-' || c == b'.')
            || b.starts_with(['-', '.'])
            || b.ends_with(['-', '.'])
        {
            problems.push(crate::connectors::FieldProblem::new(
                "credentials.bucket",
                "must be a bucket name: lower-case letters, digits, dots and dashes",
            ));
        }
        crate::connectors::FieldProblem::none_or(problems)
    }

    pub(super) fn prefix(&self) -> &str {
        self.prefix.as_deref().unwrap_or("")
    }
}
