//! Discovery: the datasets in the location, one TABLES and one COLUMNS query per
//! batch of them, nested columns flattened into paths.

use std::collections::BTreeMap;
use std::time::Instant;

use serde_json::{Value, json};

use super::config::BigqueryConfig;
use super::session::BigquerySession;
use super::types;
use crate::connectors::ConnectorError;
use crate::connectors::schema_filters::{Case, condition_with, like_pattern};
use crate::connectors::support::info_schema::{self, Layout};
use crate::connectors::support::quote::bigquery::ident as quote;
use crate::connectors::support::quote::bigquery::literal;
use crate::domain::snapshot::{Database, Snapshot, TypeFamily};

/// Datasets per INFORMATION_SCHEMA query: keeps the SQL far below the query size limit.
const DATASETS_PER_QUERY: usize = 200;

pub async fn discover(
    s: &BigquerySession,
    cfg: &BigqueryConfig,
) -> Result<Snapshot, ConnectorError> {
    let started = Instant::now();
    // Dataset and table names are case-sensitive. The datasets API takes no name
    // filter: the list (names only) is narrowed before any dataset is queried.
    let filters = &cfg.schema_filters;
    let datasets: Vec<String> = match &cfg.dataset {
        Some(d) => vec![d.clone()],
        None => s.datasets().await?,
    }
    .into_iter()
    .filter(|d| filters.schemas.keeps(d, Case::Sensitive))
    .collect();
    let on_tables = condition_with(&filters.tables, |p| {
        format!("table_name LIKE {}", literal(&like_pattern(p, '\\')))
    });
    let mut tables = Vec::new();
    let mut columns = Vec::new();
    for batch in datasets.chunks(DATASETS_PER_QUERY) {
        let union = |select: &str, view: &str| -> String {
            batch
                .iter()
                .map(|d| {
                    // `project.dataset` in one pair of backquotes, as the documentation writes it.
                    let path = quote(&format!("{}.{d}", cfg.project_id));
                    format!(
                        "SELECT {select} FROM {path}.INFORMATION_SCHEMA.{view} WHERE {on_tables}"
                    )
                })
                .collect::<Vec<_>>()
                .join(" UNION ALL ")
        };
        let tables_sql = union(
            "table_schema, table_name, table_type, CAST(NULL AS STRING) AS c",
            "TABLES",
        );
        let columns_sql = union(
            "table_schema, table_name, column_name, ordinal_position, data_type, is_nullable",
            "COLUMNS",
        );
        let (t, c) = tokio::try_join!(s.query(&tables_sql), s.query(&columns_sql))?;
        tables.extend(t);
        columns.extend(flatten_columns(c));
    }
    let schemas = info_schema::schemas(
        &tables,
        &columns,
        &Layout {
            first_ordinal: 1,
            family: nested_family,
            filters: (filters, Case::Sensitive),
        },
    );
    Ok(Snapshot::new(
        "bigquery",
        vec![Database {
            name: cfg.project_id.clone(),
            schemas,
        }],
        started,
    ))
}

/// The family of a (possibly nested) type text.
fn nested_family(text: &str) -> TypeFamily {
    types::parse(text)
        .map(|t| t.family())
        .unwrap_or(TypeFamily::Other)
}

/// Column rows with STRUCT fields expanded into path rows, renumbered in order.
fn flatten_columns(rows: Vec<Vec<Value>>) -> Vec<Vec<Value>> {
    let mut by_table: BTreeMap<(String, String), Vec<Vec<Value>>> = BTreeMap::new();
    for row in rows {
        let key = (
            row.first()
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            row.get(1).and_then(Value::as_str).unwrap_or("").to_string(),
        );
        by_table.entry(key).or_default().push(row);
    }
    let mut out = Vec::new();
    for (_, mut rows) in by_table {
        let ordinal = |r: &Vec<Value>| {
            r.get(3)
                .and_then(|v| {
                    v.as_str()
                        .and_then(|s| s.parse::<u64>().ok())
                        .or(v.as_u64())
                })
                .unwrap_or(0)
        };
        rows.sort_by_key(ordinal);
        let mut next = 1u64;
        for row in rows {
            let text = |i: usize| row.get(i).and_then(Value::as_str).unwrap_or("").to_string();
            let nullable = text(5) != "NO";
            for (path, ty, _, path_nullable) in types::flatten(&text(2), &text(4), nullable) {
                out.push(vec![
                    row.first().cloned().unwrap_or_default(),
                    row.get(1).cloned().unwrap_or_default(),
                    json!(path),
                    json!(next),
                    json!(ty),
                    json!(if path_nullable { "YES" } else { "NO" }),
                ]);
                next += 1;
            }
        }
    }
    out
}

pub async fn list_databases(s: &BigquerySession) -> Result<Vec<String>, ConnectorError> {
    Ok(vec![s.project.clone()])
}
