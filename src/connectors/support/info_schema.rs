//! Schemas assembled from information_schema rows that arrive as JSON arrays (the
//! REST protocols of Trino and Databricks): tables as `[schema, name, type,
//! comment?]`, columns as `[schema, table, name, ordinal, type, is_nullable,
//! default, comment?]`.

use std::collections::BTreeMap;

use serde_json::Value;

use std::time::Instant;

use crate::domain::schema_filters::{
    Case, SchemaFilters, condition_with, like_pattern, widened_condition_with,
};
use crate::domain::snapshot::{Column, Database, Schema, Snapshot, Table, TableKind, TypeFamily};

pub struct Layout<'f> {
    /// What the first ordinal_position is: Databricks counts from 0, the standard from 1.
    pub first_ordinal: u32,
    pub family: fn(&str) -> TypeFamily,
    /// `credentials.schemaFilters`, with the type's case rule. The queries carry
    /// them (`names_condition`); rows they let through anyway (a server that
    /// ignores a clause) are dropped here, so the snapshot obeys them whatever the
    /// server did.
    pub filters: (&'f SchemaFilters, Case),
}

/// How a dialect's `LIKE` is written for the filters, with the type's case rule.
#[derive(Clone, Copy)]
pub enum Like {
    /// `LIKE … ESCAPE '!'`, both sides lowered when names compare without case.
    Escaped(Case),
    /// The catalog keeps names in lower case (Trino, Unity Catalog): only the
    /// pattern is lowered, and the bare column leaves the server free to narrow
    /// what it reads by it.
    LowerCaseNames,
    /// No `ESCAPE` clause (Firebolt's documented `LIKE`): widened patterns, the
    /// rest in memory ([`widened_condition_with`]).
    Unescaped,
}

/// `credentials.schemaFilters` on `table_schema` and `table_name`, as SQL sent as
/// text: each pattern a literal of the dialect.
pub fn names_condition(filters: &SchemaFilters, literal: fn(&str) -> String, like: Like) -> String {
    let on = |filter, column: &str| match like {
        Like::Escaped(case) => condition_with(filter, |p| {
            let pattern = literal(&like_pattern(p, '!'));
            match case {
                Case::Sensitive => format!("{column} LIKE {pattern} ESCAPE '!'"),
                Case::Insensitive => {
                    format!("LOWER({column}) LIKE LOWER({pattern}) ESCAPE '!'")
                }
            }
        }),
        Like::LowerCaseNames => condition_with(filter, |p| {
            let pattern = literal(&like_pattern(p, '!'));
            format!("{column} LIKE LOWER({pattern}) ESCAPE '!'")
        }),
        Like::Unescaped => {
            widened_condition_with(filter, |p| format!("{column} LIKE {}", literal(p)))
        }
    };
    format!(
        "{} AND {}",
        on(&filters.schemas, "table_schema"),
        on(&filters.tables, "table_name")
    )
}

fn text(v: &Value) -> Option<String> {
    v.as_str().map(str::to_string)
}

/// A number that may arrive as text (JSON_ARRAY results carry every value as a string).
fn number(v: &Value) -> Option<u64> {
    v.as_u64()
        .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
}

fn kind(table_type: Option<&str>) -> TableKind {
    match table_type {
        Some("VIEW") => TableKind::View,
        Some("MATERIALIZED_VIEW" | "MATERIALIZED VIEW") => TableKind::MaterializedView,
        Some("EXTERNAL" | "FOREIGN") => TableKind::External,
        _ => TableKind::Table,
    }
}

/// A snapshot of one database (a catalog) from its information_schema rows.
pub fn snapshot(
    ty: &str,
    database: &str,
    (tables, columns): (&[Vec<Value>], &[Vec<Value>]),
    layout: Layout<'_>,
    started: Instant,
) -> Snapshot {
    let schemas = schemas(tables, columns, &layout);
    let databases = vec![Database {
        name: database.to_string(),
        schemas,
    }];
    Snapshot::new(ty, databases, started)
}

/// Which schemas are read: the one configured, or all but information_schema.
/// The query that proves a connection can read `catalog`'s information_schema (the
/// catalog already quoted): the connect step's last check for catalog-based types.
pub fn schemata_probe(catalog: &str) -> String {
    format!("SELECT schema_name FROM {catalog}.information_schema.schemata LIMIT 1")
}

pub fn schema_filter(schema: Option<&str>, literal: fn(&str) -> String) -> String {
    match schema {
        Some(schema) => format!("table_schema = {}", literal(schema)),
        None => "table_schema <> 'information_schema'".to_string(),
    }
}

/// The first value of each row, where it is text: a list of catalogs or databases.
pub fn first_texts(rows: &[Vec<Value>]) -> Vec<String> {
    rows.iter()
        .filter_map(|r| r.first().and_then(Value::as_str).map(str::to_string))
        .collect()
}

pub fn schemas(tables: &[Vec<Value>], columns: &[Vec<Value>], layout: &Layout<'_>) -> Vec<Schema> {
    let (filters, case) = layout.filters;
    let null = Value::Null;
    let at = |row: &'_ [Value], i: usize| -> Value { row.get(i).unwrap_or(&null).clone() };
    let mut by_name: BTreeMap<(String, String), Table> = BTreeMap::new();
    for row in tables {
        let (Some(schema), Some(name)) = (text(&at(row, 0)), text(&at(row, 1))) else {
            continue;
        };
        if !filters.keeps(&schema, &name, case) {
            continue;
        }
        by_name.insert(
            (schema, name.clone()),
            Table {
                name,
                kind: kind(at(row, 2).as_str()),
                comment: text(&at(row, 3)).filter(|c| !c.is_empty()),
                row_estimate: None,
                ..Default::default()
            },
        );
    }
    for row in columns {
        let (Some(schema), Some(table)) = (text(&at(row, 0)), text(&at(row, 1))) else {
            continue;
        };
        let Some(t) = by_name.get_mut(&(schema, table)) else {
            continue;
        };
        let native = text(&at(row, 4)).unwrap_or_default();
        let ordinal = number(&at(row, 3))
            .and_then(|n| u32::try_from(n).ok())
            .unwrap_or(0)
            .saturating_add(1)
            .saturating_sub(layout.first_ordinal.min(1));
        t.columns.push(Column {
            name: text(&at(row, 2)).unwrap_or_default(),
            ordinal,
            family: (layout.family)(&native),
            native_type: native,
            nullable: at(row, 5).as_str() != Some("NO"),
            default: text(&at(row, 6)),
            comment: text(&at(row, 7)).filter(|c| !c.is_empty()),
        });
    }
    Schema::group(by_name.into_iter().map(|((schema, _), mut table)| {
        table.columns.sort_by_key(|c| c.ordinal);
        (schema, table)
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_servers_ordinal_past_u32_or_rows_too_short_are_no_panic() {
        let none = SchemaFilters::default();
        let layout = Layout {
            first_ordinal: 1,
            family: |_| TypeFamily::Other,
            filters: (&none, Case::Sensitive),
        };
        let tables = vec![vec![json!("s"), json!("t")], vec![], vec![json!(1)]];
        let columns = vec![
            vec![json!("s"), json!("t"), json!("a"), json!(u32::MAX as u64)],
            vec![json!("s"), json!("t"), json!("b"), json!("99999999999999")],
            vec![json!("s"), json!("t")],
            vec![],
        ];
        let schemas = schemas(&tables, &columns, &layout);
        assert_eq!(schemas.len(), 1);
        assert_eq!(schemas[0].tables[0].columns.len(), 3);
    }
}
