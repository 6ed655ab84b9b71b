//! csv's fields, its typed config (with the file the job adds), and the checks of
//! the URL and of the keys an s3:// URL needs.

use std::sync::Arc;

use serde::Deserialize;

use crate::connectors::support::aws::AwsAuth;

use crate::connectors::fields::{FieldKind, FieldSpec, NAME, text, url};
use crate::connectors::{FieldProblem, Upload};

pub const FIELDS: &[FieldSpec] = &[
    NAME,
    text(
        "url",
        2048,
        "http(s):// or s3://bucket/key of the file; absent when the file is uploaded with the request",
    ),
    text("region", 32, "for s3:// URLs: the bucket's region"),
    text(
        "accessKeyId",
        128,
        "for s3:// URLs: access key id; or give roleArn and externalId",
    ),
    text("secretAccessKey", 256, "for s3:// URLs: secret access key").secret(),
    text(
        "roleArn",
        2048,
        "for s3:// URLs: IAM role to assume instead of keys (arn:aws:iam::ACCOUNT:role/NAME)",
    ),
    text(
        "externalId",
        1224,
        "for s3:// URLs: the External ID the role's trust policy requires; required with roleArn",
    )
    .at_least(2),
    url(
        "endpoint",
        "for s3:// URLs: endpoint of an S3-compatible store",
    ),
    FieldSpec {
        name: "sampleRows",
        kind: FieldKind::Integer {
            min: 1,
            max: 100_000,
        },
        required: false,
        default: Some("1000"),
        secret: false,
        description: "rows read to infer column types",
    },
];

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CsvConfig {
    pub url: Option<String>,
    pub region: Option<String>,
    #[serde(flatten)]
    pub auth: AwsAuth,
    pub endpoint: Option<String>,
    pub sample_rows: usize,
    /// The uploaded file, put here by the worker (never part of the credentials).
    #[serde(skip)]
    pub upload: Option<Arc<Upload>>,
    /// The size limit for remote files, from the worker's settings.
    #[serde(skip)]
    pub max_bytes: Option<u64>,
}

pub(super) enum Source {
    Http(reqwest::Url),
    S3 { bucket: String, key: String },
}

impl CsvConfig {
    pub(super) fn source(&self) -> Result<Option<Source>, String> {
        let Some(url) = &self.url else {
            return Ok(None);
        };
        let parsed = reqwest::Url::parse(url).map_err(|_| "must be an absolute URL".to_string())?;
        if !parsed.username().is_empty() || parsed.password().is_some() {
            return Err("must not carry a user name or password".into());
        }
        match parsed.scheme() {
            "http" | "https" => Ok(Some(Source::Http(parsed))),
            "s3" => {
                let bucket = parsed.host_str().ok_or("must name a bucket")?.to_string();
                let key = parsed.path().trim_start_matches('/').to_string();
                if key.is_empty() {
                    return Err("must name an object: s3://bucket/key".into());
                }
                Ok(Some(Source::S3 { bucket, key }))
            }
            _ => Err("must be an http, https or s3 URL".into()),
        }
    }

    /// Checks what the field table cannot: the URL, and the keys an s3:// URL needs.
    pub fn check(&self) -> Result<(), Vec<FieldProblem>> {
        let mut problems = Vec::new();
        match self.source() {
            Err(e) => problems.push(FieldProblem::new("credentials.url", e)),
            Ok(Some(Source::S3 { .. })) => {
                match &self.region {
                    None => problems.push(FieldProblem::new(
                        "credentials.region",
                        "is required for an s3:// URL",
                    )),
                    Some(r) => problems.extend(crate::connectors::support::aws::region_problems(r)),
                }
                problems.extend(self.auth.problems());
            }
            Ok(_) => {}
        }
        crate::connectors::FieldProblem::none_or(problems)
    }

    pub fn has_url(&self) -> bool {
        self.url.is_some()
    }
}
