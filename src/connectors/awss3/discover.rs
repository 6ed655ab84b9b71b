//! Discovery: the objects under the prefix, planned into tables (by object or by
//! folder), each described from a sample of its first bytes or its Parquet footer.

use std::collections::BTreeMap;
use std::time::Instant;

use futures::StreamExt;

use super::client::{Object, S3};
use super::config::S3Config;
use super::parquet;
use crate::connectors::ConnectorError;
use crate::connectors::schema_filters::Case;
use crate::connectors::support::infer::{self, FileProblem};
use crate::domain::snapshot::{Database, Schema, Snapshot, Table, TableKind};

/// Bytes read from the start of a CSV or JSON object to infer its columns.
pub const SAMPLE_BYTES: u64 = 64 * 1024;
/// Rows of that sample used for inference.
pub const SAMPLE_ROWS: usize = 1000;
/// Objects listed at most; a larger prefix is discovered in part, and says so.
pub const MAX_OBJECTS: usize = 20_000;
/// Objects sampled at once.
const CONCURRENCY: usize = 8;

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
    // The listing carries keys only; the filter (case-sensitive, as keys are)
    // applies before any object is read for its columns.
    let plan: Vec<Planned> = plan(&objects, prefix, cfg.mode == "Folder")
        .into_iter()
        .filter(|p| cfg.schema_filters.tables.keeps(&p.name, Case::Sensitive))
        .collect();
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
        columns,
        properties,
        ..Default::default()
    })
}

async fn parquet_columns(
    s3: &S3,
    o: &Object,
) -> Result<Result<Vec<crate::domain::snapshot::Column>, FileProblem>, ConnectorError> {
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
