//! PostgreSQL discovery: three set-based pg_catalog queries (relations, columns,
//! constraints), never one per table, assembled in memory.

use std::collections::HashMap;

use futures::TryStreamExt;
use std::time::Instant;

use super::config::PostgresConfig;
use super::session::{PgSession, query_error};
use crate::connectors::ConnectorError;
use crate::domain::snapshot::{
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
    // The three queries are independent: pipelining them on one connection saves
    // round trips. Each is read as its rows stream in, straight into the snapshot's
    // shape; decoded rows are never held all at once (on a wide catalog they would
    // take several times the snapshot's memory). The three are read side by side:
    // the connection delivers the first query's rows before the second's answer.
    let param = [&schema as &(dyn tokio_postgres::types::ToSql + Sync)];
    let failed = |e| query_error(e, "reading pg_catalog");
    let read_relations = async {
        let rows = s.client.query_raw(RELATIONS, param).await?;
        futures::pin_mut!(rows);
        let mut tables: HashMap<u32, (String, Table)> = HashMap::new();
        while let Some(row) = rows.try_next().await? {
            let kind = match row.try_get::<_, &str>(3)? {
                "v" => TableKind::View,
                "m" => TableKind::MaterializedView,
                "f" => TableKind::External,
                _ => TableKind::Table,
            };
            let estimate: f64 = row.try_get::<_, Option<f64>>(5)?.unwrap_or(-1.0);
            let table = Table {
                name: row.try_get(2)?,
                kind,
                comment: row.try_get(4)?,
                // reltuples is -1 for never-analysed tables and meaningless for views.
                row_estimate: (estimate >= 0.0 && kind != TableKind::View)
                    .then_some(estimate as i64),
                ..Default::default()
            };
            tables.insert(row.try_get(0)?, (row.try_get::<_, String>(1)?, table));
        }
        Ok::<_, tokio_postgres::Error>(tables)
    };
    let read_columns = async {
        let rows = s.client.query_raw(COLUMNS, param).await?;
        futures::pin_mut!(rows);
        let mut columns: HashMap<u32, Vec<Column>> = HashMap::new();
        while let Some(row) = rows.try_next().await? {
            columns.entry(row.try_get(0)?).or_default().push(Column {
                name: row.try_get(1)?,
                ordinal: u32::try_from(row.try_get::<_, i32>(2)?).unwrap_or(0),
                native_type: row.try_get::<_, Option<String>>(3)?.unwrap_or_default(),
                family: family(row.try_get(4)?, row.try_get(5)?),
                nullable: !row.try_get::<_, bool>(6)?,
                default: row.try_get(7)?,
                comment: row.try_get(8)?,
            });
        }
        Ok(columns)
    };
    let read_constraints = async {
        let rows = s.client.query_raw(CONSTRAINTS, param).await?;
        futures::pin_mut!(rows);
        let mut constraints = Vec::new();
        while let Some(row) = rows.try_next().await? {
            constraints.push((
                row.try_get::<_, u32>(0)?,
                row.try_get::<_, String>(1)?,
                row.try_get::<_, Vec<i32>>(2)?,
                row.try_get::<_, Option<String>>(3)?.unwrap_or_default(),
                row.try_get::<_, Option<String>>(4)?.unwrap_or_default(),
                row.try_get::<_, Vec<String>>(5)?,
            ));
        }
        Ok(constraints)
    };
    let (mut tables, mut columns, constraints) =
        tokio::try_join!(read_relations, read_columns, read_constraints).map_err(failed)?;
    for (relid, (_, table)) in tables.iter_mut() {
        table.columns = columns.remove(relid).unwrap_or_default();
    }
    for (relid, kind, key, ref_schema, ref_table, ref_columns) in constraints {
        let Some((_, table)) = tables.get_mut(&relid) else {
            continue;
        };
        // Key columns by attnum: the columns arrived in attnum order.
        let key_names: Vec<String> = key
            .iter()
            .filter_map(|n| {
                let at = table
                    .columns
                    .binary_search_by_key(&(*n as u32), |c| c.ordinal)
                    .ok()?;
                Some(table.columns[at].name.clone())
            })
            .collect();
        match kind.as_str() {
            "p" => table.primary_key = key_names,
            _ => table.foreign_keys.push(ForeignKey {
                columns: key_names,
                references: Reference {
                    schema: ref_schema,
                    table: ref_table,
                    columns: ref_columns,
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
    rows.iter().map(|r| cell(r, 0)).collect()
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

/// One cell of a catalog row. `Row::get` panics on a NULL or an unexpected type,
/// and what arrives is the server's to decide (a PostgreSQL-compatible server may
/// answer the catalog queries differently): a bad cell fails the job instead.
pub(crate) fn cell<'a, T: tokio_postgres::types::FromSql<'a>>(
    row: &'a tokio_postgres::Row,
    index: usize,
) -> Result<T, ConnectorError> {
    row.try_get(index)
        .map_err(|e| query_error(e, "reading the catalog"))
}
