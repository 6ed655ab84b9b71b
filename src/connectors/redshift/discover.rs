//! Redshift discovery: relations and columns from pg_catalog, keys from
//! pg_constraint (key arrays read as text, which Redshift can return), external
//! tables from SVV_EXTERNAL_TABLES / SVV_EXTERNAL_COLUMNS and the columns of
//! late-binding views from PG_GET_LATE_BINDING_VIEW_COLS(). Every query is
//! set-based; the Redshift-only sources are read only where they are visible.

use std::collections::HashMap;
use std::time::Instant;

use tokio_postgres::types::ToSql;

use crate::connectors::ConnectorError;
use crate::connectors::postgres::config::PostgresConfig;
use crate::connectors::postgres::discover::{cell, family};
use crate::connectors::postgres::session::{PgSession, query_error};
use crate::domain::schema_filters::{Case, SqlDialect};
use crate::domain::snapshot::{
    Column, Database, ForeignKey, Reference, Schema, Snapshot, Table, TableKind, TypeFamily,
};

const USER_SCHEMAS: &str =
    "n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_internal', 'pg_automv')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
  AND ($1::text IS NULL OR n.nspname = $1)";

fn relations(filter: &str) -> String {
    format!(
        "SELECT c.oid, n.nspname::text, c.relname::text, c.relkind::text, d.description, c.reltuples::float8
         FROM pg_catalog.pg_class c
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_catalog.pg_description d ON d.objoid = c.oid AND d.objsubid = 0
         WHERE c.relkind IN ('r', 'v', 'm') AND {USER_SCHEMAS} AND has_schema_privilege(n.oid, 'USAGE') AND {filter}"
    )
}

fn columns(filter: &str) -> String {
    format!(
        "SELECT a.attrelid, a.attname::text, a.attnum::int4, pg_catalog.format_type(a.atttypid, a.atttypmod),
                t.typname::text, t.typcategory::text, a.attnotnull, pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), d.description
         FROM pg_catalog.pg_attribute a
         JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
         LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
         LEFT JOIN pg_catalog.pg_description d ON d.objoid = a.attrelid AND d.objsubid = a.attnum
         WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'v', 'm') AND {USER_SCHEMAS} AND {filter}
         ORDER BY a.attrelid, a.attnum"
    )
}

fn constraints(filter: &str) -> String {
    format!(
        "SELECT con.conrelid, con.contype::text, con.conkey::text, con.confrelid, con.confkey::text,
                rn.nspname::text, rc.relname::text
         FROM pg_catalog.pg_constraint con
         JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
         JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         LEFT JOIN pg_catalog.pg_class rc ON rc.oid = con.confrelid
         LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace
         WHERE con.contype IN ('p', 'f') AND {USER_SCHEMAS} AND {filter}
         ORDER BY con.conrelid, con.conname"
    )
}

/// The column names of relations that foreign keys point at but the relations
/// query did not read (another schema, or one the filters leave out), so that a
/// key names its referenced columns rather than their numbers.
fn referenced_columns(filter: &str) -> String {
    format!(
        "SELECT a.attrelid, a.attnum::int4, a.attname::text
         FROM pg_catalog.pg_attribute a
         WHERE a.attnum > 0 AND NOT a.attisdropped AND a.attrelid IN (
           SELECT con.confrelid
           FROM pg_catalog.pg_constraint con
           JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
           JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
           WHERE con.contype = 'f' AND {USER_SCHEMAS} AND {filter})"
    )
}

/// Which Redshift-only sources exist for this session (on Redshift they live in
/// pg_catalog; anywhere, only what is visible on the search path counts).
const REDSHIFT_SOURCES: &str = "
SELECT
  (SELECT count(*) FROM pg_catalog.pg_class c
    WHERE c.relname IN ('svv_external_tables', 'svv_external_columns') AND pg_catalog.pg_table_is_visible(c.oid))::int4,
  (SELECT count(*) FROM pg_catalog.pg_proc p
    WHERE p.proname = 'pg_get_late_binding_view_cols' AND pg_catalog.pg_function_is_visible(p.oid))::int4";

const EXTERNAL_TABLES: &str = "SELECT schemaname::text, tablename::text FROM svv_external_tables
WHERE ($1::text IS NULL OR schemaname = $1)";

const EXTERNAL_COLUMNS: &str =
    "SELECT schemaname::text, tablename::text, columnname::text, external_type::text,
       columnnum::int4, part_key::int4, is_nullable::text
FROM svv_external_columns WHERE ($1::text IS NULL OR schemaname = $1)";

const LATE_BINDING_COLUMNS: &str = "SELECT view_schema::text, view_name::text, col_name::text, col_type::text, col_num::int4
FROM pg_get_late_binding_view_cols() cols(view_schema name, view_name name, col_name name, col_type varchar, col_num int)
WHERE ($1::text IS NULL OR view_schema = $1)";

/// `credentials.schemaFilters` on a schema and a relation column, as a condition
/// whose patterns are bound from `$2` on (`$1` is the one schema, or null). Each
/// pattern is its own parameter: Redshift's catalog takes no array parameters.
/// Redshift folds identifiers to lower case, so names compare without case.
fn name_filter(cfg: &PostgresConfig, schema: &str, relation: &str) -> (String, Vec<String>) {
    let dialect = SqlDialect {
        placeholder: |n| format!("${}", n + 1),
        case: Case::Insensitive,
    };
    let mut binds = Vec::new();
    let on_schema = dialect.condition(&cfg.schema_filters.schemas, schema, &mut binds);
    let on_relation = dialect.condition(&cfg.schema_filters.tables, relation, &mut binds);
    (format!("{on_schema} AND {on_relation}"), binds)
}

/// A query with the filter's condition appended, and its parameters.
fn with_filter<'a>(
    sql: &str,
    schema: &'a Option<&'a str>,
    filter: &'a (String, Vec<String>),
) -> (String, Vec<&'a (dyn ToSql + Sync)>) {
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![schema];
    params.extend(filter.1.iter().map(|b| b as &(dyn ToSql + Sync)));
    (format!("{sql} AND {}", filter.0), params)
}

/// `{1,2}` (an int2vector or int2[] as text) into attribute numbers.
fn key_numbers(text: Option<String>) -> Vec<i32> {
    text.unwrap_or_default()
        .trim_matches(|c| c == '{' || c == '}')
        .split([',', ' '])
        .filter_map(|n| n.trim().parse().ok())
        .collect()
}

pub async fn discover(s: &mut PgSession, cfg: &PostgresConfig) -> Result<Snapshot, ConnectorError> {
    let started = Instant::now();
    let schema = cfg.schema.as_deref();
    let on_catalog = name_filter(cfg, "n.nspname", "c.relname");
    let mut params: Vec<&(dyn ToSql + Sync)> = vec![&schema];
    params.extend(on_catalog.1.iter().map(|b| b as &(dyn ToSql + Sync)));
    let (relations_sql, columns_sql, constraints_sql, referenced_sql) = (
        relations(&on_catalog.0),
        columns(&on_catalog.0),
        constraints(&on_catalog.0),
        referenced_columns(&on_catalog.0),
    );
    let external = name_filter(cfg, "schemaname", "tablename");
    let (external_tables, external_params) = with_filter(EXTERNAL_TABLES, &schema, &external);
    let (external_columns, _) = with_filter(EXTERNAL_COLUMNS, &schema, &external);
    let late = name_filter(cfg, "view_schema", "view_name");
    let (late_binding_columns, late_params) = with_filter(LATE_BINDING_COLUMNS, &schema, &late);
    let (relations, columns, constraints, referenced, sources) = tokio::try_join!(
        s.client.query(relations_sql.as_str(), &params),
        s.client.query(columns_sql.as_str(), &params),
        s.client.query(constraints_sql.as_str(), &params),
        s.client.query(referenced_sql.as_str(), &params),
        s.client.query_one(REDSHIFT_SOURCES, &[]),
    )
    .map_err(|e| query_error(e, "reading pg_catalog"))?;

    let mut tables: HashMap<u32, (String, Table)> = HashMap::with_capacity(relations.len());
    let mut by_name: HashMap<(String, String), u32> = HashMap::new();
    for row in &relations {
        let kind = match cell::<&str>(row, 3)? {
            "v" => TableKind::View,
            "m" => TableKind::MaterializedView,
            _ => TableKind::Table,
        };
        let (oid, schema_name, name): (u32, String, String) =
            (cell(row, 0)?, cell(row, 1)?, cell(row, 2)?);
        let estimate: f64 = cell(row, 5)?;
        by_name.insert((schema_name.clone(), name.clone()), oid);
        tables.insert(
            oid,
            (
                schema_name,
                Table {
                    name,
                    kind,
                    comment: cell(row, 4)?,
                    row_estimate: (estimate >= 0.0 && kind != TableKind::View)
                        .then_some(estimate as i64),
                    ..Default::default()
                },
            ),
        );
    }
    let mut names: HashMap<u32, HashMap<i32, String>> = HashMap::new();
    for row in &columns {
        let relid: u32 = cell(row, 0)?;
        let Some((_, table)) = tables.get_mut(&relid) else {
            continue;
        };
        let (name, ordinal): (String, i32) = (cell(row, 1)?, cell(row, 2)?);
        names
            .entry(relid)
            .or_default()
            .insert(ordinal, name.clone());
        table.columns.push(Column {
            name,
            ordinal: u32::try_from(ordinal).unwrap_or(0),
            native_type: cell(row, 3)?,
            family: family(cell(row, 4)?, cell(row, 5)?),
            nullable: !cell::<bool>(row, 6)?,
            default: cell(row, 7)?,
            comment: cell(row, 8)?,
        });
    }
    for row in &referenced {
        let (relid, ordinal, name): (u32, i32, String) =
            (cell(row, 0)?, cell(row, 1)?, cell(row, 2)?);
        names
            .entry(relid)
            .or_default()
            .entry(ordinal)
            .or_insert(name);
    }
    for row in &constraints {
        let relid: u32 = cell(row, 0)?;
        let resolve = |rel: u32, nums: Vec<i32>| -> Vec<String> {
            nums.iter()
                .map(|n| {
                    names
                        .get(&rel)
                        .and_then(|m| m.get(n))
                        .cloned()
                        .unwrap_or_else(|| format!("#{n}"))
                })
                .collect()
        };
        let key = resolve(relid, key_numbers(cell(row, 2)?));
        let referenced = resolve(cell(row, 3)?, key_numbers(cell(row, 4)?));
        let Some((_, table)) = tables.get_mut(&relid) else {
            continue;
        };
        if cell::<&str>(row, 1)? == "p" {
            table.primary_key = key;
        } else {
            table.foreign_keys.push(ForeignKey {
                columns: key,
                references: Reference {
                    schema: cell::<Option<String>>(row, 5)?.unwrap_or_default(),
                    table: cell::<Option<String>>(row, 6)?.unwrap_or_default(),
                    columns: referenced,
                },
            });
        }
    }

    let mut extra: Vec<(String, Table)> = Vec::new();
    let (external_sources, late_binding): (i32, i32) = (cell(&sources, 0)?, cell(&sources, 1)?);
    if external_sources == 2 {
        let (ext_tables, ext_columns) = tokio::try_join!(
            s.client.query(external_tables.as_str(), &external_params),
            s.client.query(external_columns.as_str(), &external_params),
        )
        .map_err(|e| query_error(e, "reading svv_external_tables"))?;
        let mut external: HashMap<(String, String), Table> = HashMap::new();
        for row in &ext_tables {
            let key: (String, String) = (cell(row, 0)?, cell(row, 1)?);
            external.insert(
                key.clone(),
                Table {
                    name: key.1,
                    kind: TableKind::External,
                    comment: None,
                    row_estimate: None,
                    ..Default::default()
                },
            );
        }
        for row in &ext_columns {
            let key: (String, String) = (cell(row, 0)?, cell(row, 1)?);
            let Some(table) = external.get_mut(&key) else {
                continue;
            };
            let native: String = cell(row, 3)?;
            let part_key: Option<i32> = cell(row, 5)?;
            table.columns.push(Column {
                name: cell(row, 2)?,
                ordinal: u32::try_from(cell::<i32>(row, 4)?).unwrap_or(0),
                family: crate::connectors::support::aws::hive::hive_family(&native),
                native_type: native,
                nullable: cell::<Option<String>>(row, 6)?.is_none_or(|n| n != "false"),
                default: None,
                comment: part_key
                    .filter(|k| *k > 0)
                    .map(|k| format!("partition key {k}")),
            });
        }
        for ((schema_name, _), mut table) in external {
            table.columns.sort_by_key(|c| c.ordinal);
            extra.push((schema_name, table));
        }
    }
    if late_binding == 1 {
        let rows = s
            .client
            .query(late_binding_columns.as_str(), &late_params)
            .await
            .map_err(|e| query_error(e, "reading late-binding view columns"))?;
        // Late-binding views have no columns in pg_attribute; only those are filled here.
        let unbound: std::collections::HashSet<u32> = tables
            .iter()
            .filter(|(_, (_, t))| t.kind == TableKind::View && t.columns.is_empty())
            .map(|(oid, _)| *oid)
            .collect();
        for row in &rows {
            let key: (String, String) = (cell(row, 0)?, cell(row, 1)?);
            let Some(oid) = by_name.get(&key).filter(|oid| unbound.contains(oid)) else {
                continue;
            };
            let Some((_, view)) = tables.get_mut(oid) else {
                continue;
            };
            let native: String = cell(row, 3)?;
            let base = native
                .split('(')
                .next()
                .unwrap_or(&native)
                .trim()
                .to_string();
            view.columns.push(Column {
                name: cell(row, 2)?,
                ordinal: u32::try_from(cell::<i32>(row, 4)?).unwrap_or(0),
                family: redshift_family(&base),
                native_type: native,
                nullable: true,
                default: None,
                comment: None,
            });
        }
    }

    let schemas = Schema::group(
        tables
            .into_values()
            .chain(extra)
            .map(|(schema, mut table)| {
                table.columns.sort_by_key(|c| c.ordinal);
                (schema, table)
            }),
    );
    let databases = vec![Database {
        name: s.database.clone(),
        schemas,
    }];
    Ok(Snapshot::new("redshift", databases, started))
}

/// Redshift type names as the late-binding function prints them.
fn redshift_family(base: &str) -> TypeFamily {
    match base.to_ascii_lowercase().as_str() {
        "smallint" | "integer" | "bigint" => TypeFamily::Integer,
        "real" | "double precision" => TypeFamily::Float,
        "numeric" => TypeFamily::Decimal,
        "character varying" | "character" | "varchar" | "char" | "text" => TypeFamily::String,
        "boolean" => TypeFamily::Boolean,
        "date" => TypeFamily::Date,
        "time without time zone" | "time with time zone" => TypeFamily::Time,
        "timestamp without time zone" | "timestamp with time zone" => TypeFamily::Timestamp,
        "super" => TypeFamily::Json,
        "varbyte" => TypeFamily::Binary,
        _ => TypeFamily::Other,
    }
}
