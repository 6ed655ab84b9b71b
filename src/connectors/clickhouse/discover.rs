//! ClickHouse discovery from system.tables and system.columns: two set-based
//! queries, plus one that asks which optional columns this server version has
//! (table comments and row counts arrived long after 18.x).

use std::collections::{BTreeMap, HashMap};
use std::time::Instant;

use serde::Deserialize;

use super::config::ClickhouseConfig;
use super::session::ChSession;
use crate::connectors::ConnectorError;
use crate::connectors::schema_filters::{condition_with, like_pattern};
use crate::domain::snapshot::{Column, Database, Schema, Snapshot, Table, TableKind, TypeFamily};

#[derive(Deserialize)]
struct TableRow {
    name: String,
    engine: String,
    #[serde(default)]
    sorting_key: String,
    #[serde(default)]
    primary_key: String,
    #[serde(default)]
    partition_key: String,
    #[serde(default)]
    comment: Option<String>,
    #[serde(default)]
    total_rows: Option<serde_json::Value>,
}

#[derive(Deserialize)]
struct ColumnRow {
    table: String,
    name: String,
    #[serde(rename = "type")]
    native: String,
    default_kind: String,
    default_expression: String,
    comment: String,
}

#[derive(Deserialize)]
struct Name {
    name: String,
}

use crate::connectors::support::quote::clickhouse::literal as quote;

pub async fn discover(s: &ChSession, cfg: &ClickhouseConfig) -> Result<Snapshot, ConnectorError> {
    let started = Instant::now();
    let db = quote(&cfg.database);
    // ClickHouse's LIKE escapes with a backslash, inside a literal that doubles it.
    let filter = |column: &str| {
        condition_with(&cfg.schema_filters.tables, |p| {
            format!("{column} LIKE {}", quote(&like_pattern(p, '\\')))
        })
    };
    let (on_tables, on_columns) = (filter("name"), filter("table"));
    let optional: Vec<Name> = s
        .rows("SELECT name FROM system.columns WHERE database = 'system' AND table = 'tables' AND name IN ('comment', 'total_rows')")
        .await?;
    let has = |c: &str| optional.iter().any(|n| n.name == c);
    let extra = format!(
        "{}{}",
        if has("comment") { ", comment" } else { "" },
        if has("total_rows") {
            ", total_rows"
        } else {
            ""
        }
    );
    let tables: Vec<TableRow> = s
        .rows(&format!(
            "SELECT name, engine, sorting_key, primary_key, partition_key{extra} FROM system.tables WHERE database = {db} AND {on_tables}"
        ))
        .await?;
    let columns: Vec<ColumnRow> = s
        .rows(&format!(
            "SELECT table, name, type, default_kind, default_expression, comment FROM system.columns WHERE database = {db} AND {on_columns}"
        ))
        .await?;

    let mut by_name: HashMap<String, Table> = HashMap::with_capacity(tables.len());
    for t in tables {
        let kind = match t.engine.as_str() {
            "View" | "LiveView" => TableKind::View,
            "MaterializedView" => TableKind::MaterializedView,
            "URL" | "S3" | "File" | "HDFS" | "MySQL" | "PostgreSQL" | "ODBC" | "JDBC" | "Kafka"
            | "MongoDB" | "Dictionary" | "Distributed" | "RabbitMQ" | "NATS" => TableKind::External,
            _ => TableKind::Table,
        };
        let mut properties = BTreeMap::new();
        properties.insert("engine".to_string(), t.engine.clone());
        for (k, v) in [
            ("sortingKey", &t.sorting_key),
            ("partitionKey", &t.partition_key),
        ] {
            if !v.is_empty() {
                properties.insert(k.to_string(), v.clone());
            }
        }
        let row_estimate = t.total_rows.as_ref().and_then(|v| match v {
            serde_json::Value::Number(n) => n.as_i64(),
            serde_json::Value::String(s) => s.parse().ok(),
            _ => None,
        });
        by_name.insert(
            t.name.clone(),
            Table {
                name: t.name,
                kind,
                comment: t.comment.filter(|c| !c.is_empty()),
                row_estimate,
                primary_key: split_key(&t.primary_key),
                foreign_keys: Vec::new(),
                columns: Vec::new(),
                properties,
                ..Default::default()
            },
        );
    }
    for c in columns {
        let Some(t) = by_name.get_mut(&c.table) else {
            continue;
        };
        let (nullable, family) = family(&c.native);
        t.columns.push(Column {
            ordinal: t.columns.len() as u32 + 1,
            name: c.name,
            native_type: c.native,
            family,
            nullable,
            default: (!c.default_kind.is_empty())
                .then(|| format!("{} {}", c.default_kind, c.default_expression)),
            comment: (!c.comment.is_empty()).then_some(c.comment),
        });
    }
    let mut tables: Vec<Table> = by_name.into_values().collect();
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    let databases = vec![Database {
        name: cfg.database.clone(),
        schemas: vec![Schema {
            name: cfg.database.clone(),
            tables,
        }],
    }];
    Ok(Snapshot::new("clickhouse", databases, started))
}

pub async fn list_databases(s: &ChSession) -> Result<Vec<String>, ConnectorError> {
    let rows: Vec<Name> = s
        .rows("SELECT name FROM system.databases WHERE name NOT IN ('system', 'INFORMATION_SCHEMA', 'information_schema') ORDER BY name")
        .await?;
    Ok(rows.into_iter().map(|r| r.name).collect())
}

/// A key expression such as `id, ts` as its column names; expressions stay as written.
fn split_key(key: &str) -> Vec<String> {
    key.split(',')
        .map(str::trim)
        .filter(|k| !k.is_empty())
        .map(str::to_string)
        .collect()
}

/// Nullability and family of a ClickHouse type, looking through wrappers.
pub fn family(native: &str) -> (bool, TypeFamily) {
    let mut t = native.trim();
    let mut nullable = false;
    loop {
        if let Some(inner) = t
            .strip_prefix("Nullable(")
            .and_then(|r| r.strip_suffix(')'))
        {
            nullable = true;
            t = inner;
        } else if let Some(inner) = t
            .strip_prefix("LowCardinality(")
            .and_then(|r| r.strip_suffix(')'))
        {
            t = inner;
        } else {
            break;
        }
    }
    let base = t.split('(').next().unwrap_or(t);
    let family = match base {
        b if b.starts_with("Int") || b.starts_with("UInt") => TypeFamily::Integer,
        "Float32" | "Float64" | "BFloat16" => TypeFamily::Float,
        b if b.starts_with("Decimal") => TypeFamily::Decimal,
        "String" | "FixedString" | "Enum8" | "Enum16" | "Enum" | "IPv4" | "IPv6" => {
            TypeFamily::String
        }
        "Bool" | "Boolean" => TypeFamily::Boolean,
        "Date" | "Date32" => TypeFamily::Date,
        "DateTime" | "DateTime64" => TypeFamily::Timestamp,
        "UUID" => TypeFamily::Uuid,
        "Array" => TypeFamily::Array,
        "JSON" | "Object" => TypeFamily::Json,
        _ => TypeFamily::Other,
    };
    (nullable, family)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrappers_are_looked_through() {
        assert_eq!(family("Nullable(Int32)"), (true, TypeFamily::Integer));
        assert_eq!(
            family("LowCardinality(Nullable(String))"),
            (true, TypeFamily::String)
        );
        assert_eq!(family("Decimal(12, 2)"), (false, TypeFamily::Decimal));
        assert_eq!(
            family("DateTime64(3, 'UTC')"),
            (false, TypeFamily::Timestamp)
        );
        assert_eq!(family("Array(UInt8)"), (false, TypeFamily::Array));
        assert_eq!(family("Map(String, UInt64)"), (false, TypeFamily::Other));
    }
}
