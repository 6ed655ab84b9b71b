//! Discovery: the sample's columns inferred, as one table.

use std::time::Instant;

use super::config::CsvConfig;
use super::session::Sample;
use crate::connectors::support::infer;
use crate::connectors::{ConnectorError, Fault};
use crate::domain::snapshot::{Database, Schema, Snapshot, Table, TableKind};

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
        columns,
        properties,
        ..Default::default()
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
