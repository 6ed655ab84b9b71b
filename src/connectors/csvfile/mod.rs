//! csv: one CSV file — at an http(s) URL, at an s3:// URL, or uploaded with the
//! request — as one table. Header, delimiter and quoting are sniffed and column
//! types inferred over `sampleRows` rows; a malformed row fails the job with its
//! line number; files over the size limit are refused.

use std::sync::Arc;
use std::time::Instant;

use secrecy::SecretString;
use serde::Deserialize;

use crate::connectors::Net;
use crate::connectors::awss3::client::S3;
use crate::connectors::fields::{FieldKind, FieldSpec, NAME, text, url};
use crate::connectors::support::infer;
use crate::connectors::{ConnectorError, Fault, FieldProblem};
use crate::snapshot::{Database, Schema, Snapshot, Table, TableKind};

/// Bytes read from the start of the file for inference.
pub const SAMPLE_BYTES: u64 = 1024 * 1024;

pub const FIELDS: &[FieldSpec] = &[
    NAME,
    text(
        "url",
        2048,
        "http(s):// or s3://bucket/key of the file; absent when the file is uploaded with the request",
    ),
    text("region", 32, "for s3:// URLs: the bucket's region"),
    text("accessKeyId", 128, "for s3:// URLs: access key id"),
    text("secretAccessKey", 256, "for s3:// URLs: secret access key").secret(),
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
    pub access_key_id: Option<String>,
    pub secret_access_key: Option<SecretString>,
    pub endpoint: Option<String>,
    pub sample_rows: usize,
    /// The uploaded file, put here by the worker (never part of the credentials).
    #[serde(skip)]
    pub upload: Option<Arc<Upload>>,
    /// The size limit for remote files, from the worker's settings.
    #[serde(skip)]
    pub max_bytes: Option<u64>,
}

pub use crate::connectors::Upload;

enum Source {
    Http(reqwest::Url),
    S3 { bucket: String, key: String },
}

impl CsvConfig {
    fn source(&self) -> Result<Option<Source>, String> {
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
                for (field, present) in [
                    ("region", self.region.is_some()),
                    ("accessKeyId", self.access_key_id.is_some()),
                    ("secretAccessKey", self.secret_access_key.is_some()),
                ] {
                    if !present {
                        problems.push(FieldProblem::new(
                            format!("credentials.{field}"),
                            "is required for an s3:// URL",
                        ));
                    }
                }
            }
            Ok(_) => {}
        }
        crate::connectors::FieldProblem::none_or(problems)
    }

    pub fn has_url(&self) -> bool {
        self.url.is_some()
    }
}

/// The first bytes of the file and whether there is more.
pub struct Sample {
    name: String,
    bytes: Vec<u8>,
    truncated: bool,
    size: Option<u64>,
}

fn too_large(size: u64, limit: u64) -> ConnectorError {
    ConnectorError::new(
        Fault::Protocol,
        format!("the file is {size} bytes, over the limit of {limit} bytes"),
        "point at a smaller file, or ask the operator to raise ONRAMP_CSV_MAX_BYTES",
    )
}

/// Reaches the file and reads its sample: proves the URL, the keys and the size.
pub async fn connect(cfg: &CsvConfig, net: &Net) -> Result<Sample, ConnectorError> {
    let limit = cfg.max_bytes.unwrap_or(u64::MAX);
    let source = cfg
        .source()
        .map_err(|e| ConnectorError::new(Fault::Protocol, format!("url: {e}"), "fix the URL"))?;
    match source {
        None => {
            let upload = cfg.upload.as_ref().ok_or_else(|| {
                ConnectorError::new(
                    Fault::Protocol,
                    "no url and no uploaded file",
                    "give a url, or upload the file with the request",
                )
            })?;
            let end = upload.content.len().min(SAMPLE_BYTES as usize);
            Ok(Sample {
                name: upload.file_name.clone(),
                bytes: upload.content[..end].to_vec(),
                truncated: upload.content.len() > end,
                size: Some(upload.content.len() as u64),
            })
        }
        Some(Source::Http(url)) => {
            // The query of a presigned URL is a credential: never quote it.
            let shown = format!(
                "{}://{}{}",
                url.scheme(),
                url.host_str().unwrap_or_default(),
                url.path()
            );
            let client = net.http()?;
            let request = client
                .request(reqwest::Method::GET, url.as_str())?
                .header("range", format!("bytes=0-{}", SAMPLE_BYTES - 1));
            let response = client.send(request).await?;
            let status = response.status().as_u16();
            if status == 404 {
                return Err(ConnectorError::new(
                    Fault::UnknownDatabase,
                    format!("{shown} does not exist (http 404)"),
                    "check the URL",
                ));
            }
            if status == 401 || status == 403 {
                return Err(ConnectorError::new(
                    Fault::Authentication,
                    format!("{shown} refused access (http {status})"),
                    "make the file readable at this URL, or upload it",
                ));
            }
            if !(200..300).contains(&status) {
                return Err(ConnectorError::new(
                    Fault::Protocol,
                    format!("{shown} answered http {status}"),
                    "check the URL",
                ));
            }
            // 206 carries the total in Content-Range; 200 (no range support) in Content-Length.
            let size = response
                .headers()
                .get("content-range")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit('/').next())
                .and_then(|n| n.parse::<u64>().ok())
                .or(response.content_length());
            if let Some(size) = size.filter(|s| *s > limit) {
                return Err(too_large(size, limit));
            }
            let bytes = client
                .read_prefix(response, SAMPLE_BYTES as usize + 1)
                .await?;
            let truncated = size.map_or(bytes.len() as u64 > SAMPLE_BYTES, |s| {
                s > bytes.len().min(SAMPLE_BYTES as usize) as u64
            });
            let mut bytes = bytes;
            bytes.truncate(SAMPLE_BYTES as usize);
            let name = url
                .path_segments()
                .and_then(|mut s| s.next_back())
                .unwrap_or("file")
                .to_string();
            Ok(Sample {
                name,
                bytes,
                truncated,
                size,
            })
        }
        Some(Source::S3 { bucket, key }) => {
            let region = cfg.region.clone().unwrap_or_default();
            let (base, path_style) = match &cfg.endpoint {
                Some(e) => (e.parse().expect("validated url"), true),
                None => (
                    format!("https://{bucket}.s3.{region}.amazonaws.com/")
                        .parse()
                        .map_err(|_| {
                            ConnectorError::new(
                                Fault::Protocol,
                                "bad bucket or region",
                                "check both",
                            )
                        })?,
                    false,
                ),
            };
            let s3 = S3 {
                client: net.http()?,
                base,
                path_style,
                bucket: bucket.clone(),
                region,
                access_key_id: cfg.access_key_id.clone().unwrap_or_default(),
                secret_access_key: cfg
                    .secret_access_key
                    .clone()
                    .unwrap_or_else(|| SecretString::from(String::new())),
            };
            let page = s3.list(&key, None, 1).await?;
            let object = page
                .objects
                .into_iter()
                .find(|o| o.key == key)
                .ok_or_else(|| {
                    ConnectorError::new(
                        Fault::UnknownDatabase,
                        format!("s3://{bucket}/{key} does not exist"),
                        "check the bucket and key",
                    )
                })?;
            if object.size > limit {
                return Err(too_large(object.size, limit));
            }
            let end = object.size.min(SAMPLE_BYTES).saturating_sub(1);
            let bytes = if object.size == 0 {
                Vec::new()
            } else {
                s3.get(&key, Some((0, end))).await?
            };
            let name = key.rsplit('/').next().unwrap_or(&key).to_string();
            Ok(Sample {
                name,
                bytes,
                truncated: object.size > SAMPLE_BYTES,
                size: Some(object.size),
            })
        }
    }
}

pub fn discover(sample: &Sample, cfg: &CsvConfig) -> Result<Snapshot, ConnectorError> {
    let started = Instant::now();
    let columns =
        infer::csv_columns(&sample.bytes, sample.truncated, cfg.sample_rows).map_err(|p| {
            ConnectorError::new(
                Fault::Protocol,
                format!("the file is not valid CSV: {p}"),
                "fix that row, then sync the datasource",
            )
        })?;
    let mut properties = std::collections::BTreeMap::new();
    properties.insert("format".to_string(), "csv".to_string());
    if let Some(size) = sample.size {
        properties.insert("bytes".to_string(), size.to_string());
    }
    let table = Table {
        name: sample.name.clone(),
        kind: TableKind::File,
        comment: None,
        row_estimate: None,
        primary_key: Vec::new(),
        foreign_keys: Vec::new(),
        columns,
        properties,
    };
    let databases = vec![Database {
        name: "file".into(),
        schemas: vec![Schema {
            name: "file".into(),
            tables: vec![table],
        }],
    }];
    Ok(Snapshot::new("csv", databases, started))
}

/// A file has no databases or tables to split tenants by.
pub struct Csv;

impl crate::connectors::Connector for Csv {
    type Config = CsvConfig;
    type Session = Sample;

    fn fields(&self) -> &'static [crate::connectors::FieldSpec] {
        FIELDS
    }

    fn tenancy_levels(&self) -> &'static [crate::connectors::tenancy::Level] {
        &[]
    }

    fn check(&self, config: &CsvConfig) -> Result<(), Vec<crate::connectors::FieldProblem>> {
        config.check()
    }

    fn upload_replaces(&self) -> Option<&'static str> {
        Some("url")
    }

    fn needs_upload(&self, config: &CsvConfig) -> bool {
        !config.has_url()
    }

    fn prepare(&self, config: &mut CsvConfig, inputs: crate::connectors::JobInputs) {
        config.max_bytes = Some(inputs.file_max_bytes);
        config.upload = inputs.upload;
    }

    async fn connect(&self, config: &CsvConfig, net: &Net) -> Result<Sample, ConnectorError> {
        connect(config, net).await
    }

    async fn discover(
        &self,
        session: &mut Sample,
        config: &CsvConfig,
    ) -> Result<crate::snapshot::Snapshot, ConnectorError> {
        discover(session, config)
    }
}
