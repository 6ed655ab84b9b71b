//! MySQL / MariaDB discovery: three separate information_schema queries (tables,
//! columns, key columns). Joins inside information_schema are planned badly by
//! both servers, so the rows are joined here instead.

use std::collections::HashMap;
use std::time::Instant;

use mysql_async::prelude::Queryable;

use super::config::MysqlConfig;
use super::session::MySession;
use crate::connectors::{ConnectorError, Fault, progress};
use crate::domain::schema_filters::{Case, SqlDialect, condition_with, like_pattern};
use crate::domain::snapshot::{
    Column, Database, ForeignKey, Reference, Schema, Snapshot, Table, TableKind, TypeFamily,
};

const TABLES: &str = "SELECT TABLE_NAME, TABLE_TYPE, TABLE_COMMENT, TABLE_ROWS \
FROM information_schema.TABLES WHERE TABLE_SCHEMA = ?";

const COLUMNS: &str = "SELECT TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, DATA_TYPE, \
IS_NULLABLE, COLUMN_DEFAULT, COLUMN_COMMENT FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = ?";

const KEYS: &str = "SELECT TABLE_NAME, CONSTRAINT_NAME, COLUMN_NAME, ORDINAL_POSITION, \
REFERENCED_TABLE_SCHEMA, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME \
FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = ?";

const DATABASES: &str = "SELECT SCHEMA_NAME FROM information_schema.SCHEMATA \
WHERE SCHEMA_NAME NOT IN ('information_schema', 'mysql', 'performance_schema', 'sys') ORDER BY 1";

type TableRow = (String, String, Option<String>, Option<u64>);
type ColumnRow = (
    String,
    String,
    u64,
    String,
    String,
    String,
    Option<String>,
    Option<String>,
);
type KeyRow = (
    String,
    String,
    String,
    u64,
    Option<String>,
    Option<String>,
    Option<String>,
);

/// A cell as text. Typed row conversion panics on a NULL, bytes that are not UTF-8 or
/// a value of another type, and the server decides all three: cells are read here
/// leniently, and a row without the cells it must have is skipped.
pub(super) fn text_at(row: &mysql_async::Row, i: usize) -> Option<String> {
    use mysql_async::Value;
    match row.as_ref(i)? {
        Value::NULL => None,
        Value::Bytes(b) => Some(String::from_utf8_lossy(b).into_owned()),
        Value::Int(n) => Some(n.to_string()),
        Value::UInt(n) => Some(n.to_string()),
        other => Some(other.as_sql(true)),
    }
}

fn number_at(row: &mysql_async::Row, i: usize) -> Option<u64> {
    use mysql_async::Value;
    match row.as_ref(i)? {
        Value::Int(n) => u64::try_from(*n).ok(),
        Value::UInt(n) => Some(*n),
        Value::Bytes(b) => std::str::from_utf8(b).ok()?.trim().parse().ok(),
        _ => None,
    }
}

fn table_row(r: &mysql_async::Row) -> Option<TableRow> {
    Some((
        text_at(r, 0)?,
        text_at(r, 1)?,
        text_at(r, 2),
        number_at(r, 3),
    ))
}

fn column_row(r: &mysql_async::Row) -> Option<ColumnRow> {
    Some((
        text_at(r, 0)?,
        text_at(r, 1)?,
        number_at(r, 2).unwrap_or(0),
        text_at(r, 3).unwrap_or_default(),
        text_at(r, 4).unwrap_or_default(),
        text_at(r, 5).unwrap_or_default(),
        text_at(r, 6),
        text_at(r, 7),
    ))
}

fn key_row(r: &mysql_async::Row) -> Option<KeyRow> {
    Some((
        text_at(r, 0)?,
        text_at(r, 1)?,
        text_at(r, 2)?,
        number_at(r, 3).unwrap_or(0),
        text_at(r, 4),
        text_at(r, 5),
        text_at(r, 6),
    ))
}

// COLUMN_DEFAULT: MariaDB (since 10.2.7) quotes literal strings and writes the
// bare word NULL for "no default" on a nullable column; MySQL writes SQL NULL for
// that, and a bare NULL from MySQL would be a default of the string 'NULL', a case
// rare enough that the bare word is read as no default from both.

/// Keeps a row unless MAX_ROWS are kept already (then notes the overflow).
fn keep<T>(acc: &mut (Vec<T>, bool), row: Option<T>) {
    if acc.0.len() >= crate::connectors::support::limits::MAX_ROWS {
        acc.1 = true;
    } else if let Some(row) = row {
        acc.0.push(row);
    }
}

fn too_many(over: bool) -> Result<(), ConnectorError> {
    if over {
        return Err(ConnectorError::new(
            Fault::Limit,
            format!(
                "information_schema answered more than {} rows; onramp stopped reading",
                crate::connectors::support::limits::MAX_ROWS
            ),
            "discover one database at a time",
        ));
    }
    Ok(())
}

fn query_error(e: mysql_async::Error, what: &str) -> ConnectorError {
    ConnectorError::new(
        Fault::Protocol,
        format!("{what} failed: {e}"),
        "check that the user may read information_schema for this database",
    )
}

/// A query on `TABLE_SCHEMA = ?` narrowed by the table filter, with its binds: the
/// schema, then each pattern. MySQL's information_schema compares names without
/// case (its collation is case-insensitive), and so do the patterns. SingleStore
/// documents `LIKE` with the backslash as its escape and no `ESCAPE` clause, so
/// its patterns are escaped that way (bound, so no string literal reads them).
fn filtered(sql: &str, cfg: &MysqlConfig, flavor: &str) -> (String, Vec<mysql_async::Value>) {
    let mut patterns = Vec::new();
    let condition = if flavor == "singlestore" {
        condition_with(&cfg.schema_filters.tables, |p| {
            patterns.push(like_pattern(p, '\\'));
            "LOWER(TABLE_NAME) LIKE LOWER(?)".to_string()
        })
    } else {
        let dialect = SqlDialect {
            placeholder: |_| "?".to_string(),
            case: Case::Insensitive,
        };
        dialect.condition(&cfg.schema_filters.tables, "TABLE_NAME", &mut patterns)
    };
    let binds = std::iter::once(cfg.discovered_schema().to_string())
        .chain(patterns)
        .map(mysql_async::Value::from)
        .collect();
    (format!("{sql} AND {condition}"), binds)
}

/// Discovers through information_schema; `flavor` names the datasource type in the snapshot.
pub async fn discover(
    s: &mut MySession,
    cfg: &MysqlConfig,
    flavor: &str,
) -> Result<Snapshot, ConnectorError> {
    let started = Instant::now();
    let schema = cfg.discovered_schema();
    let (tables_sql, columns_sql, keys_sql) = (
        filtered(TABLES, cfg, flavor),
        filtered(COLUMNS, cfg, flavor),
        filtered(KEYS, cfg, flavor),
    );
    // Rows are kept up to MAX_ROWS: how many come is the server's to decide.
    let (tables, over): (Vec<TableRow>, bool) = s
        .conn
        .exec_fold(
            tables_sql.0.as_str(),
            tables_sql.1.clone(),
            (Vec::new(), false),
            |mut acc, row: mysql_async::Row| {
                keep(&mut acc, table_row(&row));
                acc
            },
        )
        .await
        .map_err(|e| query_error(e, "reading information_schema.TABLES"))?;
    too_many(over)?;
    progress::relations_total(tables.len());
    // Columns are folded into their final shape as rows arrive: a wide schema's
    // rows are never all held at once.
    let mut columns: HashMap<String, Vec<Column>> = s
        .conn
        .exec_fold(
            columns_sql.0.as_str(),
            columns_sql.1.clone(),
            HashMap::new(),
            |mut acc: HashMap<String, Vec<Column>>, row: mysql_async::Row| {
                let Some(row) = column_row(&row) else {
                    return acc;
                };
                let (table, name, ordinal, column_type, data_type, nullable, default, comment) =
                    row;
                let columns = acc.entry(table).or_insert_with(|| {
                    // A relation's first column: count the relation as read (its
                    // rows come together), a cheap measure of how far it got.
                    progress::relations_done(1);
                    Vec::new()
                });
                columns.push(Column {
                    family: family(&data_type, &column_type),
                    name,
                    ordinal: u32::try_from(ordinal).unwrap_or(u32::MAX),
                    native_type: column_type,
                    nullable: nullable == "YES",
                    default: default.filter(|d| d != "NULL"),
                    comment: comment.filter(|c| !c.is_empty()),
                });
                acc
            },
        )
        .await
        .map_err(|e| query_error(e, "reading information_schema.COLUMNS"))?;
    let (keys, over): (Vec<KeyRow>, bool) = s
        .conn
        .exec_fold(
            keys_sql.0.as_str(),
            keys_sql.1.clone(),
            (Vec::new(), false),
            |mut acc, row: mysql_async::Row| {
                keep(&mut acc, key_row(&row));
                acc
            },
        )
        .await
        .map_err(|e| query_error(e, "reading information_schema.KEY_COLUMN_USAGE"))?;
    too_many(over)?;

    let readable = super::privileges::readable(s, schema).await;
    let mut by_name: HashMap<String, Table> = HashMap::with_capacity(tables.len());
    for (name, table_type, comment, rows) in tables {
        let kind = match table_type.as_str() {
            "VIEW" | "SYSTEM VIEW" => TableKind::View,
            _ => TableKind::Table,
        };
        // MariaDB reports the comment of every view as the word VIEW.
        let comment = comment.filter(|c| !(c.is_empty() || kind == TableKind::View && c == "VIEW"));
        let can_read = readable.allows(&name);
        by_name.insert(
            name.clone(),
            Table {
                name,
                kind,
                comment,
                row_estimate: rows.map(|r| r as i64),
                readable: can_read,
                ..Default::default()
            },
        );
    }
    for (name, table) in by_name.iter_mut() {
        table.columns = columns.remove(name).unwrap_or_default();
    }
    // Key columns arrive unordered: group them by (table, constraint), ordered by position.
    let mut constraints: HashMap<(String, String), Vec<KeyRow>> = HashMap::new();
    for row in keys {
        constraints
            .entry((row.0.clone(), row.1.clone()))
            .or_default()
            .push(row);
    }
    let mut constraint_list: Vec<_> = constraints.into_iter().collect();
    constraint_list.sort_by(|a, b| a.0.cmp(&b.0));
    for ((table, constraint), mut rows) in constraint_list {
        rows.sort_by_key(|r| r.3);
        let Some(t) = by_name.get_mut(&table) else {
            continue;
        };
        let cols: Vec<String> = rows.iter().map(|r| r.2.clone()).collect();
        if constraint == "PRIMARY" {
            t.primary_key = cols;
        } else if let Some(ref_table) = rows[0].5.clone() {
            t.foreign_keys.push(ForeignKey {
                columns: cols,
                references: Reference {
                    schema: rows[0].4.clone().unwrap_or_else(|| schema.to_string()),
                    table: ref_table,
                    columns: rows.iter().filter_map(|r| r.6.clone()).collect(),
                },
            });
        }
    }
    let mut tables: Vec<Table> = by_name.into_values().collect();
    for t in &mut tables {
        t.columns.sort_by_key(|c| c.ordinal);
    }
    tables.sort_by(|a, b| a.name.cmp(&b.name));
    let databases = vec![Database {
        name: schema.to_string(),
        schemas: vec![Schema {
            name: schema.to_string(),
            tables,
        }],
    }];
    Ok(Snapshot::new(flavor, databases, started))
}

pub async fn list_databases(s: &mut MySession) -> Result<Vec<String>, ConnectorError> {
    Ok(s.conn
        .query::<mysql_async::Row, _>(DATABASES)
        .await
        .map_err(|e| query_error(e, "listing databases"))?
        .iter()
        .filter_map(|r| text_at(r, 0))
        .collect())
}

/// Maps a MySQL DATA_TYPE (and the full COLUMN_TYPE, for tinyint(1)) onto a type family.
pub fn family(data_type: &str, column_type: &str) -> TypeFamily {
    match data_type {
        "tinyint" if column_type.starts_with("tinyint(1)") => TypeFamily::Boolean,
        "bit" if column_type == "bit(1)" => TypeFamily::Boolean,
        "tinyint" | "smallint" | "mediumint" | "int" | "integer" | "bigint" | "year" => {
            TypeFamily::Integer
        }
        "float" | "double" | "real" => TypeFamily::Float,
        "decimal" | "numeric" => TypeFamily::Decimal,
        "char" | "varchar" | "tinytext" | "text" | "mediumtext" | "longtext" | "enum" | "set" => {
            TypeFamily::String
        }
        "date" => TypeFamily::Date,
        "time" => TypeFamily::Time,
        "datetime" | "timestamp" => TypeFamily::Timestamp,
        "json" => TypeFamily::Json,
        "binary" | "varbinary" | "tinyblob" | "blob" | "mediumblob" | "longblob" | "bit" => {
            TypeFamily::Binary
        }
        "uuid" => TypeFamily::Uuid,
        _ => TypeFamily::Other,
    }
}
