//! Amazon S3 (and S3-compatible stores): every CSV, JSON-lines and Parquet object
//! under a prefix — or every folder of them — becomes a table. CSV and JSON columns
//! are inferred from a sample of the object's first bytes; Parquet columns are read
//! from the footer. All requests go through the egress guard, signed with SigV4.

pub mod client;
pub mod parquet;
mod thrift;

use std::collections::BTreeMap;
use std::time::Instant;

use futures::StreamExt;
use secrecy::SecretString;
use serde::Deserialize;

use self::client::{Object, S3};
use crate::connectors::Net;
use crate::connectors::fields::{FieldKind, FieldSpec, NAME, text, url};
use crate::connectors::support::infer::{self, FileProblem};
use crate::connectors::{ConnectorError, Fault};
use crate::snapshot::{Database, Schema, Snapshot, Table, TableKind};

/// Bytes read from the start of a CSV or JSON object to infer its columns.
pub const SAMPLE_BYTES: u64 = 64 * 1024;
/// Rows of that sample used for inference.
pub const SAMPLE_ROWS: usize = 1000;
/// Objects listed at most; a larger prefix is discovered in part, and says so.
pub const MAX_OBJECTS: usize = 20_000;
/// Objects sampled at once.
const CONCURRENCY: usize = 8;

pub const FIELDS: &[FieldSpec] = &[
    NAME,
    text("region", 32, "the bucket's region, e.g. us-east-1").required(),
    text("bucket", 63, "bucket name").at_least(3).required(),
    text("prefix", 1024, "discover only keys under this prefix").at_least(0),
    text("accessKeyId", 128, "access key id").required(),
    text("secretAccessKey", 256, "secret access key")
        .required()
        .secret(),
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
];

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct S3Config {
    pub region: String,
    pub bucket: String,
    pub prefix: Option<String>,
    pub access_key_id: String,
    pub secret_access_key: SecretString,
    pub endpoint: Option<String>,
    pub mode: String,
}

impl S3Config {
    /// Checks what the field table cannot: the region's and bucket's characters.
    pub fn check(&self) -> Result<(), Vec<crate::connectors::FieldProblem>> {
        let mut problems = crate::connectors::support::aws::region_problems(&self.region);
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

    fn prefix(&self) -> &str {
        self.prefix.as_deref().unwrap_or("")
    }
}

pub async fn connect(cfg: &S3Config, net: &Net) -> Result<S3, ConnectorError> {
    let client = net.http()?;
    let (base, path_style) = match &cfg.endpoint {
        Some(e) => (e.parse().expect("validated url"), true),
        None => (
            format!("https://{}.s3.{}.amazonaws.com/", cfg.bucket, cfg.region)
                .parse()
                .map_err(|_| {
                    ConnectorError::new(Fault::Protocol, "bad bucket or region", "check both")
                })?,
            false,
        ),
    };
    let s3 = S3 {
        client,
        base,
        path_style,
        bucket: cfg.bucket.clone(),
        region: cfg.region.clone(),
        access_key_id: cfg.access_key_id.clone(),
        secret_access_key: cfg.secret_access_key.clone(),
    };
    // Proves the keys, the bucket and the right to list in one request.
    s3.list(cfg.prefix(), None, 1).await?;
    Ok(s3)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Format {
    Csv,
    JsonLines,
    Parquet,
}

impl Format {
    fn of(key: &str) -> Option<Format> {
        let lower = key.to_ascii_lowercase();
        let ext = lower.rsplit('.').next()?;
        match ext {
            "csv" | "tsv" => Some(Format::Csv),
            "json" | "jsonl" | "ndjson" => Some(Format::JsonLines),
            "parquet" => Some(Format::Parquet),
            _ => None,
        }
    }

    fn name(self) -> &'static str {
        match self {
            Format::Csv => "csv",
            Format::JsonLines => "jsonl",
            Format::Parquet => "parquet",
        }
    }
}

/// One table to be: its name, the object whose columns it takes, and how many objects it spans.
struct Planned {
    name: String,
    sample: Object,
    format: Format,
    objects: usize,
}

pub async fn discover(s3: &S3, cfg: &S3Config) -> Result<Snapshot, ConnectorError> {
    let started = Instant::now();
    let prefix = cfg.prefix();
    let mut objects = Vec::new();
    let mut token: Option<String> = None;
    let mut complete = true;
    let mut pages = crate::connectors::Pages::new("ListObjectsV2");
    loop {
        pages.one_more()?;
        let page = s3.list(prefix, token.as_deref(), 1000).await?;
        // One page may hold more objects than it should: never more than the cap.
        let room = MAX_OBJECTS.saturating_sub(objects.len());
        if page.objects.len() > room {
            complete = false;
        }
        objects.extend(page.objects.into_iter().take(room));
        if !complete {
            break;
        }
        token = page.next;
        if token.is_none() {
            break;
        }
        if objects.len() >= MAX_OBJECTS {
            complete = false;
            break;
        }
    }
    let plan = plan(&objects, prefix, cfg.mode == "Folder");
    let tables: Vec<Table> = futures::stream::iter(plan)
        .map(|p| async move { describe(s3, p).await })
        .buffer_unordered(CONCURRENCY)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<Vec<_>, _>>()?;
    let mut tables = tables;
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    if !complete {
        tracing::warn!(bucket = %cfg.bucket, listed = objects.len(), "prefix holds more objects than discovery lists");
    }
    let databases = vec![Database {
        name: cfg.bucket.clone(),
        schemas: vec![Schema {
            name: prefix.to_string(),
            tables,
        }],
    }];
    Ok(Snapshot::new("awss3", databases, started))
}

fn plan(objects: &[Object], prefix: &str, folders: bool) -> Vec<Planned> {
    let mut by_name: BTreeMap<String, Planned> = BTreeMap::new();
    for o in objects {
        let Some(format) = Format::of(&o.key) else {
            continue;
        };
        let relative = o
            .key
            .strip_prefix(prefix)
            .unwrap_or(&o.key)
            .trim_start_matches('/');
        let name = match (folders, relative.split_once('/')) {
            (true, Some((folder, _))) => folder.to_string(),
            _ => relative.to_string(),
        };
        by_name
            .entry(name.clone())
            .and_modify(|p| p.objects += 1)
            .or_insert(Planned {
                name,
                sample: o.clone(),
                format,
                objects: 1,
            });
    }
    by_name.into_values().collect()
}

async fn describe(s3: &S3, p: Planned) -> Result<Table, ConnectorError> {
    let read = match p.format {
        Format::Parquet => parquet_columns(s3, &p.sample).await?,
        format => {
            let end = p.sample.size.min(SAMPLE_BYTES).saturating_sub(1);
            let bytes = if p.sample.size == 0 {
                Vec::new()
            } else {
                s3.get(&p.sample.key, Some((0, end))).await?
            };
            let truncated = p.sample.size > SAMPLE_BYTES;
            if format == Format::Csv {
                infer::csv_columns(&bytes, truncated, SAMPLE_ROWS)
            } else {
                infer::json_lines_columns(&bytes, truncated, SAMPLE_ROWS)
            }
        }
    };
    let mut properties = BTreeMap::new();
    properties.insert("format".to_string(), p.format.name().to_string());
    properties.insert("sampledKey".to_string(), p.sample.key.clone());
    properties.insert("objects".to_string(), p.objects.to_string());
    let (columns, comment) = match read {
        Ok(columns) => (columns, None),
        // One unreadable object does not hide the rest of the bucket: it is named here.
        Err(problem) => (
            Vec::new(),
            Some(format!("unreadable: {}: {problem}", p.sample.key)),
        ),
    };
    Ok(Table {
        name: p.name,
        kind: TableKind::File,
        comment,
        row_estimate: None,
        primary_key: Vec::new(),
        foreign_keys: Vec::new(),
        columns,
        properties,
    })
}

async fn parquet_columns(
    s3: &S3,
    o: &Object,
) -> Result<Result<Vec<crate::snapshot::Column>, FileProblem>, ConnectorError> {
    if o.size < 12 {
        return Ok(Err(FileProblem {
            line: None,
            message: "too short to be parquet".into(),
        }));
    }
    let tail = s3.get(&o.key, Some((o.size - 8, o.size - 1))).await?;
    let length = match parquet::footer_length(&tail) {
        Ok(l) if (l as u64) + 8 <= o.size => l as u64,
        Ok(_) => {
            return Ok(Err(FileProblem {
                line: None,
                message: "footer length exceeds the file".into(),
            }));
        }
        Err(e) => return Ok(Err(e)),
    };
    let footer = s3
        .get(&o.key, Some((o.size - 8 - length, o.size - 9)))
        .await?;
    Ok(parquet::columns(&footer))
}

crate::connector! {
    /// Files have no databases or tables to split tenants by.
    Awss3 {
        config: S3Config,
        session: client::S3,
        fields: FIELDS,
        tenancy: &[],
        check: S3Config::check,
        connect: connect,
        discover: discover,
    }
}
