//! PostgreSQL discovery: three set-based pg_catalog queries (relations, columns,
//! constraints), never one per table, assembled in memory.

use std::collections::HashMap;

use futures::TryStreamExt;
use std::time::Instant;

use super::config::PostgresConfig;
use super::session::{PgSession, query_error};
use crate::connectors::{ConnectorError, Fault, progress};
use crate::domain::snapshot::{
    Column, Database, ForeignKey, Reference, Schema, Snapshot, Table, TableKind, TypeFamily,
};

/// `credentials.schemaFilters` on a schema and a relation name: `$2`/`$3` the schema
/// include/exclude `LIKE` patterns, `$4`/`$5` the relation's (empty arrays keep all).
macro_rules! name_filters {
    ($schema:literal, $relation:literal) => {
        concat!(
            "
  AND (cardinality($2::text[]) = 0 OR ",
            $schema,
            " LIKE ANY ($2::text[]))
  AND NOT (",
            $schema,
            " LIKE ANY ($3::text[]))
  AND (cardinality($4::text[]) = 0 OR ",
            $relation,
            " LIKE ANY ($4::text[]))
  AND NOT (",
            $relation,
            " LIKE ANY ($5::text[]))"
        )
    };
}

/// The relations discovery reads (`c` a pg_class row, `n` its namespace; `$1` one
/// schema when not null, `$2`–`$5` the filters): one text for every query that
/// needs it, so that what is filtered out is never joined to its columns.
macro_rules! user_relations {
    () => {
        concat!(
            "c.relkind IN ('r', 'p', 'v', 'm', 'f')
  AND NOT c.relispartition
  AND n.nspname NOT IN ('pg_catalog', 'information_schema', 'crdb_internal', 'pg_extension')
  AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%'
  AND ($1::text IS NULL OR n.nspname = $1)",
            name_filters!("n.nspname", "c.relname")
        )
    };
}

/// Relations of the user schemas ($1 limits to one schema when not null), with
/// whether the credentials may read each: USAGE on its schema and SELECT on it (or
/// on any of its columns). The catalog shows relations the user cannot read; they
/// are reported as such, not left out.
const RELATIONS: &str = concat!(
    "
SELECT c.oid, n.nspname, c.relname, c.relkind::text, d.description, c.reltuples::float8,
       has_schema_privilege(n.oid, 'USAGE') AND has_any_column_privilege(c.oid, 'SELECT')
FROM pg_catalog.pg_class c
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
LEFT JOIN pg_catalog.pg_description d
  ON d.objoid = c.oid AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = 0
WHERE ",
    user_relations!()
);

/// Columns; a domain's type family is its base type's (followed two domains deep:
/// typbasetype is 0, matching nothing, for every other type). Each row also carries
/// how many relations there are (one count, an InitPlan): the columns arrive before
/// the relations query's answer, and progress needs the total while they stream.
const COLUMNS: &str = concat!("
SELECT a.attrelid, a.attname, a.attnum::int4,
       pg_catalog.format_type(a.atttypid, a.atttypmod),
       COALESCE(b2.typname, b1.typname, t.typname)::text,
       COALESCE(b2.typcategory, b1.typcategory, t.typcategory)::text,
       a.attnotnull,
       pg_catalog.pg_get_expr(ad.adbin, ad.adrelid), d.description,
       (SELECT count(*) FROM pg_catalog.pg_class c JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
         WHERE ", user_relations!(), ")
FROM pg_catalog.pg_attribute a
JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
JOIN pg_catalog.pg_type t ON t.oid = a.atttypid
LEFT JOIN pg_catalog.pg_type b1 ON b1.oid = t.typbasetype
LEFT JOIN pg_catalog.pg_type b2 ON b2.oid = b1.typbasetype
LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
LEFT JOIN pg_catalog.pg_description d
  ON d.objoid = a.attrelid AND d.classoid = 'pg_catalog.pg_class'::regclass AND d.objsubid = a.attnum
WHERE a.attnum > 0 AND NOT a.attisdropped
  AND ", user_relations!(), "
ORDER BY a.attrelid, a.attnum");

/// Primary and foreign keys, with the referenced side resolved to names.
const CONSTRAINTS: &str = concat!(
    "
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
  AND ($1::text IS NULL OR n.nspname = $1)",
    name_filters!("n.nspname", "c.relname"),
    "
ORDER BY con.conrelid, con.conname"
);

/// The leaf partitions under each top-level partitioned table (a partition may
/// itself be partitioned), with their row estimates: onramp folds them into the
/// parent instead of listing each as a table.
const PARTITIONS: &str = concat!(
    "
WITH RECURSIVE tree(root, child, depth) AS (
  SELECT i.inhparent, i.inhrelid, 1
  FROM pg_catalog.pg_inherits i
  JOIN pg_catalog.pg_class p ON p.oid = i.inhparent
  JOIN pg_catalog.pg_namespace n ON n.oid = p.relnamespace
  WHERE p.relkind = 'p' AND NOT p.relispartition
    AND ($1::text IS NULL OR n.nspname = $1)",
    name_filters!("n.nspname", "p.relname"),
    "
  UNION ALL
  SELECT tree.root, i.inhrelid, tree.depth + 1
  FROM tree JOIN pg_catalog.pg_inherits i ON i.inhparent = tree.child
  WHERE tree.depth < 32
)
SELECT tree.root, n.nspname, c.relname, c.reltuples::float8
FROM tree
JOIN pg_catalog.pg_class c ON c.oid = tree.child
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE c.relkind <> 'p'
ORDER BY tree.root, n.nspname, c.relname"
);

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
    let (include_schemas, exclude_schemas) = cfg.schema_filters.schemas.like();
    let (include_tables, exclude_tables) = cfg.schema_filters.tables.like();
    let param: [&(dyn tokio_postgres::types::ToSql + Sync); 5] = [
        &schema,
        &include_schemas,
        &exclude_schemas,
        &include_tables,
        &exclude_tables,
    ];
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
                readable: row.try_get::<_, Option<bool>>(6)?.unwrap_or(true),
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
        // Rows arrive by relation: a relation is read once the next one starts.
        let mut current = None;
        while let Some(row) = rows.try_next().await? {
            let relid: u32 = row.try_get(0)?;
            match current.replace(relid) {
                None => progress::relations_total(
                    usize::try_from(row.try_get::<_, i64>(9)?).unwrap_or(0),
                ),
                Some(c) if c != relid => progress::relations_done(1),
                Some(_) => {}
            }
            columns.entry(relid).or_default().push(Column {
                name: row.try_get(1)?,
                ordinal: u32::try_from(row.try_get::<_, i32>(2)?).unwrap_or(0),
                native_type: row.try_get::<_, Option<String>>(3)?.unwrap_or_default(),
                family: family(row.try_get(4)?, row.try_get(5)?),
                nullable: !row.try_get::<_, bool>(6)?,
                default: row.try_get(7)?,
                comment: row.try_get(8)?,
            });
        }
        progress::relations_done(usize::from(current.is_some()));
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
    let read_partitions = async {
        let rows = s.client.query_raw(PARTITIONS, param).await?;
        futures::pin_mut!(rows);
        let mut partitions = Vec::new();
        while let Some(row) = rows.try_next().await? {
            partitions.push((
                row.try_get::<_, u32>(0)?,
                row.try_get::<_, String>(1)?,
                row.try_get::<_, String>(2)?,
                row.try_get::<_, Option<f64>>(3)?.unwrap_or(-1.0),
            ));
        }
        Ok(partitions)
    };
    let (mut tables, mut columns, constraints, partitions) = tokio::try_join!(
        read_relations,
        read_columns,
        read_constraints,
        read_partitions
    )
    .map_err(failed)?;
    fold_partitions(&mut tables, partitions);
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

/// Names each partitioned table's leaf partitions and, when the parent itself was
/// never analysed, estimates its rows as the sum of theirs.
fn fold_partitions(
    tables: &mut HashMap<u32, (String, Table)>,
    partitions: Vec<(u32, String, String, f64)>,
) {
    let mut estimates: HashMap<u32, Option<f64>> = HashMap::new();
    for (root, schema, name, estimate) in partitions {
        let Some((parent_schema, table)) = tables.get_mut(&root) else {
            continue;
        };
        let label = if *parent_schema == schema {
            name
        } else {
            format!("{schema}.{name}")
        };
        table.partitions.push(label);
        // An unanalysed partition (-1) leaves the sum unknown.
        let sum = estimates.entry(root).or_insert(Some(0.0));
        *sum = sum.filter(|_| estimate >= 0.0).map(|s| s + estimate);
    }
    for (root, sum) in estimates {
        if let (Some((_, table)), Some(sum)) = (tables.get_mut(&root), sum) {
            table.row_estimate = table.row_estimate.or(Some(sum as i64));
        }
    }
}

/// The connect step's last check: the credentials can read the catalog, and the
/// schema the credentials name (if any) exists. One round trip.
pub async fn check_catalog(s: &mut PgSession, cfg: &PostgresConfig) -> Result<(), ConnectorError> {
    let schema = cfg.schema.as_deref();
    let row = s
        .client
        .query_one(
            "SELECT has_schema_privilege('pg_catalog', 'USAGE'),
                    $1::text IS NULL OR EXISTS (SELECT 1 FROM pg_catalog.pg_namespace WHERE nspname = $1)",
            &[&schema],
        )
        .await
        .map_err(|e| query_error(e, "checking access to pg_catalog"))?;
    if !cell::<bool>(&row, 0)? {
        return Err(ConnectorError::new(
            Fault::Permission,
            format!("the user {} may not read pg_catalog", cfg.username),
            "grant the user USAGE on schema pg_catalog (PostgreSQL grants it to every role unless revoked)",
        ));
    }
    if !cell::<bool>(&row, 1)? {
        return Err(ConnectorError::new(
            Fault::UnknownDatabase,
            format!(
                "schema {:?} does not exist in database {:?}",
                schema.unwrap_or_default(),
                s.database
            ),
            "check the schema's name (names are case-sensitive), or leave schema out to discover every schema",
        ));
    }
    Ok(())
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
