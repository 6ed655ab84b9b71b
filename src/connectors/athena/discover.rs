//! Discovery through the Glue Data Catalog: the tables of one database, paged, and
//! the list of databases.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::{Value, json};

use super::config::AthenaConfig;
use super::session::{AthenaSession, api_error};
use crate::connectors::support::aws::json_api::{common_error, hive_family};
use crate::connectors::{ConnectorError, Fault};
use crate::domain::snapshot::{Column, Database, Schema, Snapshot, Table, TableKind};

pub async fn discover(s: &AthenaSession, cfg: &AthenaConfig) -> Result<Snapshot, ConnectorError> {
    let started = Instant::now();
    let mut tables = Vec::new();
    let mut token: Option<String> = None;
    let mut pages = crate::connectors::Pages::new("GetTables");
    loop {
        pages.one_more()?;
        let mut request = json!({"DatabaseName": cfg.database, "MaxResults": 100});
        if let Some(t) = &token {
            request["NextToken"] = json!(t);
        }
        let page = s
            .api
            .call("glue", "AWSGlue.GetTables", &request)
            .await
            .map_err(|e| api_error(e, "GetTables", cfg))?;
        for t in page["TableList"].as_array().into_iter().flatten() {
            tables.push(table(t));
        }
        token = page["NextToken"]
            .as_str()
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
        let mut request = json!({});
        if let Some(t) = &token {
            request["NextToken"] = json!(t);
        }
        let page = s
            .api
            .call("glue", "AWSGlue.GetDatabases", &request)
            .await
            .map_err(|e| match e {
                Ok(api) => common_error(&api).unwrap_or_else(|| {
                    ConnectorError::new(
                        Fault::Protocol,
                        format!("GetDatabases: {} {}", api.kind, api.message),
                        "check the endpoint",
                    )
                }),
                Err(transport) => transport,
            })?;
        names.extend(
            page["DatabaseList"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|d| d["Name"].as_str().map(str::to_string)),
        );
        token = page["NextToken"]
            .as_str()
            .filter(|t| !t.is_empty())
            .map(str::to_string);
        if token.is_none() {
            return Ok(names);
        }
    }
}

/// A Glue table: its storage columns, then its partition keys.
fn table(t: &Value) -> Table {
    let kind = match t["TableType"].as_str() {
        Some("VIRTUAL_VIEW") => TableKind::View,
        _ => TableKind::External,
    };
    let mut columns = Vec::new();
    let storage = t["StorageDescriptor"]["Columns"]
        .as_array()
        .into_iter()
        .flatten();
    let partitions = t["PartitionKeys"].as_array().into_iter().flatten();
    for (c, partition) in storage
        .map(|c| (c, false))
        .chain(partitions.map(|c| (c, true)))
    {
        let native = c["Type"].as_str().unwrap_or("string").to_string();
        let comment = c["Comment"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string);
        columns.push(Column {
            name: c["Name"].as_str().unwrap_or_default().to_string(),
            ordinal: columns.len() as u32 + 1,
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
        });
    }
    let mut properties = BTreeMap::new();
    if let Some(location) = t["StorageDescriptor"]["Location"].as_str() {
        properties.insert("location".to_string(), location.to_string());
    }
    let partition_keys: Vec<&str> = t["PartitionKeys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["Name"].as_str())
        .collect();
    if !partition_keys.is_empty() {
        properties.insert("partitionKeys".to_string(), partition_keys.join(", "));
    }
    Table {
        name: t["Name"].as_str().unwrap_or_default().to_string(),
        kind,
        comment: t["Description"]
            .as_str()
            .filter(|s| !s.is_empty())
            .map(str::to_string),
        columns,
        properties,
        ..Default::default()
    }
}
