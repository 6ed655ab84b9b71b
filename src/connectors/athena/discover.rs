//! Discovery through the Glue Data Catalog: the tables of one database, paged, and
//! the list of databases.

use std::collections::BTreeMap;
use std::time::Instant;

use aws_sdk_glue::types::Column as GlueColumn;

use super::config::AthenaConfig;
use super::session::{AthenaSession, api_error};
use crate::connectors::schema_filters::Case;
use crate::connectors::support::aws::hive::hive_family;
use crate::connectors::support::aws::sdk::{common_error, failure};
use crate::connectors::{ConnectorError, Fault};
use crate::domain::snapshot::{Column, Database, Schema, Snapshot, Table, TableKind};

pub async fn discover(s: &AthenaSession, cfg: &AthenaConfig) -> Result<Snapshot, ConnectorError> {
    let started = Instant::now();
    let mut tables = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = crate::connectors::Pages::new("GetTables");
    loop {
        pages.one_more()?;
        let page = s
            .glue
            .get_tables()
            .database_name(&cfg.database)
            .max_results(100)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| api_error(failure(e, &s.glue_host), "GetTables", cfg))?;
        // GetTables takes only a regular expression Glue and its emulators read
        // differently: the filter (without case, as Glue stores names in lower
        // case) is applied to each page as it arrives, so no filtered-out table
        // is converted or kept.
        tables.extend(
            page.table_list()
                .iter()
                .filter(|t| cfg.schema_filters.tables.keeps(t.name(), Case::Insensitive))
                .map(table),
        );
        token = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            break;
        }
    }
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    let databases = vec![Database {
        name: cfg.catalog.clone(),
        schemas: vec![Schema {
            name: cfg.database.clone(),
            tables,
        }],
    }];
    Ok(Snapshot::new("athena", databases, started))
}

pub async fn list_databases(s: &AthenaSession) -> Result<Vec<String>, ConnectorError> {
    let mut names = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = crate::connectors::Pages::new("GetDatabases");
    loop {
        pages.one_more()?;
        let page = s
            .glue
            .get_databases()
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| match failure(e, &s.glue_host) {
                Ok(api) => common_error(&api).unwrap_or_else(|| {
                    ConnectorError::new(
                        Fault::Protocol,
                        format!("GetDatabases: {} {}", api.kind, api.message),
                        "check the endpoint",
                    )
                }),
                Err(transport) => transport,
            })?;
        names.extend(page.database_list().iter().map(|d| d.name().to_string()));
        token = page
            .next_token()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            return Ok(names);
        }
    }
}

/// A Glue table: its storage columns, then its partition keys.
fn table(t: &aws_sdk_glue::types::Table) -> Table {
    let kind = match t.table_type() {
        Some("VIRTUAL_VIEW") => TableKind::View,
        _ => TableKind::External,
    };
    let storage = t
        .storage_descriptor()
        .map(|d| d.columns())
        .unwrap_or_default();
    let partitions = t.partition_keys();
    let mut columns = Vec::new();
    for (c, partition) in storage
        .iter()
        .map(|c| (c, false))
        .chain(partitions.iter().map(|c| (c, true)))
    {
        columns.push(column(c, partition, columns.len() as u32 + 1));
    }
    let mut properties = BTreeMap::new();
    if let Some(location) = t.storage_descriptor().and_then(|d| d.location()) {
        properties.insert("location".to_string(), location.to_string());
    }
    let partition_keys: Vec<&str> = partitions.iter().map(|c| c.name()).collect();
    if !partition_keys.is_empty() {
        properties.insert("partitionKeys".to_string(), partition_keys.join(", "));
    }
    Table {
        name: t.name().to_string(),
        kind,
        comment: t
            .description()
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        columns,
        properties,
        ..Default::default()
    }
}

fn column(c: &GlueColumn, partition: bool, ordinal: u32) -> Column {
    let native = c.r#type().unwrap_or("string").to_string();
    let comment = c.comment().filter(|s| !s.is_empty()).map(str::to_string);
    Column {
        name: c.name().to_string(),
        ordinal,
        family: hive_family(&native),
        native_type: native,
        nullable: true,
        default: None,
        comment: if partition {
            Some(comment.map_or("partition key".to_string(), |c| {
                format!("partition key: {c}")
            }))
        } else {
            comment
        },
    }
}
