//! PostgreSQL discovery: three set-based pg_catalog queries (relations, columns,
//! constraints), never one per table, assembled in memory.

use std::collections::HashMap;
use std::time::Instant;

use super::config::PostgresConfig;
use super::{PgSession, query_error};
use crate::connectors::ConnectorError;
use crate::snapshot::{
    Column, Database, ForeignKey, Reference, Schema, Snapshot, Table, TableKind, TypeFamily,
};

/// Relations of the user schemas ($1 limits to one schema when not null).
const RELATIONS: &str = "
SELECT c.oid, n.nspname, c.relname, c.relkind::text, d.description, c.reltuples::float8
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_description d
  ON d.objoid = c.oid AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0
WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'crdb_internal', 'pg_extension')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
  AND ($1::text IS NULL OR n.nspname = $1)
  AND has_schema_privilege(n.oid, 'USAGE')";

const COLUMNS: &str = "
SELECT a.attrelid, a.attname, a.attnum::int4,
       pg_catalog.format_type(a.atttypid, a.atttypmod),
       t.typname::text, t.typcategory::text, a.attnotnull,
       pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), d.description
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN pg_catalog.pg_description d
  ON d.objoid = a.attrelid AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped
  AND c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'crdb_internal', 'pg_extension')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
  AND ($1::text IS NULL OR n.nspname = $1)
ORDER BY a.attrelid, a.attnum";

/// Primary and foreign keys, with the referenced side resolved to names.
const CONSTRAINTS: &str = "
SELECT con.conrelid, con.contype::text, con.conkey::int4[],
       rn.nspname, rc.relname,
       ARRAY(SELECT ra.attname::text FROM unnest(con.confkey) WITH ORDINALITY k(num, ord)
             JOIN pg_catalog.pg_attribute ra ON ra.attrelid = con.confrelid AND ra.attnum = k.num
             ORDER BY k.ord)
FROM pg_catalog.pg_constraint con
JOIN pg_catalog.pg_class c ON c.oid = con.conrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_class rc ON rc.oid = con.confrelid
LEFT JOIN pg_catalog.pg_namespace rn ON rn.oid = rc.relnamespace
WHERE con.contype IN ('p', 'f')
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'crdb_internal', 'pg_extension')
  AND ($1::text IS NULL OR n.nspname = $1)
ORDER BY con.conrelid, con.conname";

const DATABASES: &str = "
SELECT datname FROM pg_catalog.pg_database
WHERE datallowconn AND NOT datistemplate AND has_database_privilege(datname, 'CONNECT')
ORDER BY datname";

/// Discovers through pg_catalog; `flavor` names the datasource type in the snapshot.
pub async fn discover(
    s: &mut PgSession,
    cfg: &PostgresConfig,
    flavor: &str,
) -> Result<Snapshot, ConnectorError> {
    let started = Instant::now();
    let schema = cfg.schema.as_deref();
    // The three queries are independent: pipelining them on one connection saves round trips.
    let params: [&(dyn tokio_postgres::types::ToSql + Sync); 1] = [&schema];
    let (relations, columns, constraints) = tokio::try_join!(
        s.client.query(RELATIONS, &params),
        s.client.query(COLUMNS, &params),
        s.client.query(CONSTRAINTS, &params),
    )
    .map_err(|e| query_error(e, "reading pg_catalog"))?;

    let mut tables: HashMap<u32, (String, Table)> = HashMap::with_capacity(relations.len());
    for row in &relations {
        let kind = match row.get::<_, &str>(3) {
            "v" => TableKind::View,
            "m" => TableKind::MaterializedView,
            "f" => TableKind::External,
            _ => TableKind::Table,
        };
        let estimate: f64 = row.get(5);
        tables.insert(
            row.get(0),
            (
                row.get::<_, String>(1),
                Table {
                    name: row.get(2),
                    kind,
                    comment: row.get(4),
                    // reltuples is -1 for never-analysed tables and meaningless for views.
                    row_estimate: (estimate >= 0.0 && kind != TableKind::View)
                        .then_some(estimate as i64),
                    primary_key: Vec::new(),
                    foreign_keys: Vec::new(),
                    columns: Vec::new(),
                    properties: Default::default(),
                },
            ),
        );
    }

    let mut names_by_relation: HashMap<u32, HashMap<i32, String>> = HashMap::new();
    for row in &columns {
        let relid: u32 = row.get(0);
        let Some((_, table)) = tables.get_mut(&relid) else {
            continue;
        };
        let name: String = row.get(1);
        let ordinal: i32 = row.get(2);
        names_by_relation
            .entry(relid)
            .or_default()
            .insert(ordinal, name.clone());
        table.columns.push(Column {
            name,
            ordinal: ordinal as u32,
            native_type: row.get(3),
            family: family(row.get(4), row.get(5)),
            nullable: !row.get::<_, bool>(6),
            default: row.get(7),
            comment: row.get(8),
        });
    }

    for row in &constraints {
        let relid: u32 = row.get(0);
        let Some(names) = names_by_relation.get(&relid) else {
            continue;
        };
        let key: Vec<i32> = row.get(2);
        let key_names: Vec<String> = key.iter().filter_map(|n| names.get(n).cloned()).collect();
        let Some((_, table)) = tables.get_mut(&relid) else {
            continue;
        };
        match row.get::<_, &str>(1) {
            "p" => table.primary_key = key_names,
            _ => table.foreign_keys.push(ForeignKey {
                columns: key_names,
                references: Reference {
                    schema: row.get::<_, Option<String>>(3).unwrap_or_default(),
                    table: row.get::<_, Option<String>>(4).unwrap_or_default(),
                    columns: row.get(5),
                },
            }),
        }
    }

    let schemas = Schema::group(tables.into_values());
    let databases = vec![Database {
        name: s.database.clone(),
        schemas,
    }];
    Ok(Snapshot::new(flavor, databases, started))
}

pub async fn list_databases(s: &mut PgSession) -> Result<Vec<String>, ConnectorError> {
    let rows = s
        .client
        .query(DATABASES, &[])
        .await
        .map_err(|e| query_error(e, "listing databases"))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// Maps a PostgreSQL base type (name and pg_type category) onto a type family.
pub fn family(typname: &str, category: &str) -> TypeFamily {
    match (category, typname) {
        ("A", _) => TypeFamily::Array,
        ("B", _) => TypeFamily::Boolean,
        (_, "int2" | "int4" | "int8" | "oid" | "xid") => TypeFamily::Integer,
        (_, "float4" | "float8") => TypeFamily::Float,
        (_, "numeric" | "money") => TypeFamily::Decimal,
        (_, "date") => TypeFamily::Date,
        (_, "time" | "timetz") => TypeFamily::Time,
        (_, "timestamp" | "timestamptz") => TypeFamily::Timestamp,
        (_, "json" | "jsonb") => TypeFamily::Json,
        (_, "bytea") => TypeFamily::Binary,
        (_, "uuid") => TypeFamily::Uuid,
        ("S" | "E", _) => TypeFamily::String,
        _ => TypeFamily::Other,
    }
}
