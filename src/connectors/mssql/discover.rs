//! SQL Server discovery: four set-based queries over the `sys` catalog views
//! (relations, columns, primary keys, foreign keys), whatever the number of tables.
//! Rows are read into plain tuples first, so that the assembly is tested without
//! a server.

use std::collections::BTreeMap;
use std::time::Instant;

use tiberius::Row;

use super::config::MssqlConfig;
use super::session::{MssqlSession, map_error};
use crate::connectors::ConnectorError;
use crate::domain::schema_filters::{SchemaFilters, condition_with, like_pattern};
use crate::domain::snapshot::{
    Column, Database, ForeignKey, Reference, Schema, Snapshot, Table, TableKind, TypeFamily,
};

/// An N'...' literal: the only way a value enters these queries.
pub use crate::connectors::support::quote::mssql::literal;

/// The schema filter every query shares, on the `s` alias of sys.schemas.
pub fn schema_filter(schema: Option<&str>) -> String {
    match schema {
        Some(name) => format!("s.name = {}", literal(name)),
        None => "s.name NOT IN (N'sys', N'INFORMATION_SCHEMA', N'guest')".to_string(),
    }
}

/// `credentials.schemaFilters` on the `s` (schema) and `o` (object) aliases. T-SQL's
/// LIKE also reads `[` as a wildcard and has no default escape: `!` escapes it and
/// `%`, `_` and `!`. Names compare without case, as the default collations do.
pub fn names_filter(filters: &SchemaFilters) -> String {
    let on = |filter, column: &str| {
        condition_with(filter, |p| {
            let pattern = like_pattern(p, '!').replace('[', "![");
            format!(
                "LOWER({column}) LIKE LOWER({}) ESCAPE '!'",
                literal(&pattern)
            )
        })
    };
    format!(
        "{} AND {}",
        on(&filters.schemas, "s.name"),
        on(&filters.tables, "o.name")
    )
}

pub fn relations_sql(filter: &str) -> String {
    format!(
        "SELECT s.name, o.name, o.type, CAST(ep.value AS nvarchar(4000)), \
         (SELECT SUM(p.rows) FROM sys.partitions p WHERE p.object_id = o.object_id AND p.index_id IN (0, 1)) \
         FROM sys.objects o JOIN sys.schemas s ON s.schema_id = o.schema_id \
         LEFT JOIN sys.extended_properties ep ON ep.class = 1 AND ep.major_id = o.object_id AND ep.minor_id = 0 AND ep.name = N'MS_Description' \
         WHERE o.type IN ('U', 'V') AND o.is_ms_shipped = 0 AND {filter}"
    )
}

pub fn columns_sql(filter: &str) -> String {
    format!(
        "SELECT s.name, o.name, c.name, c.column_id, t.name, c.max_length, c.precision, c.scale, c.is_nullable, \
         dc.definition, CAST(ep.value AS nvarchar(4000)) \
         FROM sys.columns c JOIN sys.objects o ON o.object_id = c.object_id \
         JOIN sys.schemas s ON s.schema_id = o.schema_id \
         JOIN sys.types t ON t.user_type_id = c.user_type_id \
         LEFT JOIN sys.default_constraints dc ON dc.object_id = c.default_object_id \
         LEFT JOIN sys.extended_properties ep ON ep.class = 1 AND ep.major_id = c.object_id AND ep.minor_id = c.column_id AND ep.name = N'MS_Description' \
         WHERE o.type IN ('U', 'V') AND o.is_ms_shipped = 0 AND {filter}"
    )
}

pub fn primary_keys_sql(filter: &str) -> String {
    format!(
        "SELECT s.name, o.name, c.name, ic.key_ordinal \
         FROM sys.indexes i JOIN sys.objects o ON o.object_id = i.object_id \
         JOIN sys.schemas s ON s.schema_id = o.schema_id \
         JOIN sys.index_columns ic ON ic.object_id = i.object_id AND ic.index_id = i.index_id \
         JOIN sys.columns c ON c.object_id = ic.object_id AND c.column_id = ic.column_id \
         WHERE i.is_primary_key = 1 AND {filter}"
    )
}

pub fn foreign_keys_sql(filter: &str) -> String {
    format!(
        "SELECT fk.name, s.name, o.name, c.name, rs.name, ro.name, rc.name, fkc.constraint_column_id \
         FROM sys.foreign_key_columns fkc JOIN sys.foreign_keys fk ON fk.object_id = fkc.constraint_object_id \
         JOIN sys.objects o ON o.object_id = fkc.parent_object_id JOIN sys.schemas s ON s.schema_id = o.schema_id \
         JOIN sys.columns c ON c.object_id = fkc.parent_object_id AND c.column_id = fkc.parent_column_id \
         JOIN sys.objects ro ON ro.object_id = fkc.referenced_object_id JOIN sys.schemas rs ON rs.schema_id = ro.schema_id \
         JOIN sys.columns rc ON rc.object_id = fkc.referenced_object_id AND rc.column_id = fkc.referenced_column_id \
         WHERE {filter}"
    )
}

pub struct Relation {
    pub schema: String,
    pub name: String,
    pub kind: String,
    pub comment: Option<String>,
    pub rows: Option<i64>,
}

pub struct ColumnRow {
    pub schema: String,
    pub table: String,
    pub name: String,
    pub ordinal: i32,
    pub type_name: String,
    pub max_length: i16,
    pub precision: u8,
    pub scale: u8,
    pub nullable: bool,
    pub default: Option<String>,
    pub comment: Option<String>,
}

/// (constraint, schema, table, column, ref schema, ref table, ref column, position).
pub type ForeignKeyRow = (String, String, String, String, String, String, String, i32);

/// The type as SQL Server's own tools print it: `nvarchar(50)`, `decimal(10,2)`, `varchar(max)`.
pub fn native_type(type_name: &str, max_length: i16, precision: u8, scale: u8) -> String {
    let length = |chars: i16| {
        if max_length == -1 {
            "max".to_string()
        } else {
            chars.to_string()
        }
    };
    match type_name {
        "varchar" | "char" | "varbinary" | "binary" => {
            format!("{type_name}({})", length(max_length))
        }
        "nvarchar" | "nchar" => format!("{type_name}({})", length(max_length / 2)),
        "decimal" | "numeric" => format!("{type_name}({precision},{scale})"),
        "datetime2" | "time" | "datetimeoffset" => format!("{type_name}({scale})"),
        other => other.to_string(),
    }
}

pub fn family(type_name: &str) -> TypeFamily {
    match type_name {
        "tinyint" | "smallint" | "int" | "bigint" => TypeFamily::Integer,
        "real" | "float" => TypeFamily::Float,
        "decimal" | "numeric" | "money" | "smallmoney" => TypeFamily::Decimal,
        "char" | "varchar" | "nchar" | "nvarchar" | "text" | "ntext" | "sysname" => {
            TypeFamily::String
        }
        "bit" => TypeFamily::Boolean,
        "date" => TypeFamily::Date,
        "time" => TypeFamily::Time,
        "datetime" | "datetime2" | "smalldatetime" | "datetimeoffset" => TypeFamily::Timestamp,
        "binary" | "varbinary" | "image" | "timestamp" | "rowversion" => TypeFamily::Binary,
        "uniqueidentifier" => TypeFamily::Uuid,
        "xml" => TypeFamily::Other,
        _ => TypeFamily::Other,
    }
}

/// The snapshot's schemas from the four result sets.
pub fn assemble(
    relations: Vec<Relation>,
    columns: Vec<ColumnRow>,
    primary_keys: Vec<(String, String, String, i32)>,
    foreign_keys: Vec<ForeignKeyRow>,
) -> Vec<Schema> {
    let mut tables: BTreeMap<(String, String), Table> = BTreeMap::new();
    for r in relations {
        tables.insert(
            (r.schema, r.name.clone()),
            Table {
                name: r.name,
                kind: if r.kind.trim() == "V" {
                    TableKind::View
                } else {
                    TableKind::Table
                },
                comment: r.comment,
                row_estimate: r.rows,
                ..Default::default()
            },
        );
    }
    for c in columns {
        if let Some(t) = tables.get_mut(&(c.schema.clone(), c.table.clone())) {
            t.columns.push(Column {
                native_type: native_type(&c.type_name, c.max_length, c.precision, c.scale),
                family: family(&c.type_name),
                name: c.name,
                ordinal: c.ordinal.max(0) as u32,
                nullable: c.nullable,
                default: c.default,
                comment: c.comment,
            });
        }
    }
    let mut pk_parts: BTreeMap<(String, String), Vec<(i32, String)>> = BTreeMap::new();
    for (schema, table, column, position) in primary_keys {
        pk_parts
            .entry((schema, table))
            .or_default()
            .push((position, column));
    }
    for (key, mut parts) in pk_parts {
        parts.sort();
        if let Some(t) = tables.get_mut(&key) {
            t.primary_key = parts.into_iter().map(|(_, c)| c).collect();
        }
    }
    let mut fk_parts: BTreeMap<(String, String, String), Vec<ForeignKeyRow>> = BTreeMap::new();
    for row in foreign_keys {
        fk_parts
            .entry((row.1.clone(), row.2.clone(), row.0.clone()))
            .or_default()
            .push(row);
    }
    for ((schema, table, _), mut rows) in fk_parts {
        rows.sort_by_key(|r| r.7);
        if let Some(t) = tables.get_mut(&(schema, table)) {
            t.foreign_keys.push(ForeignKey {
                columns: rows.iter().map(|r| r.3.clone()).collect(),
                references: Reference {
                    schema: rows[0].4.clone(),
                    table: rows[0].5.clone(),
                    columns: rows.iter().map(|r| r.6.clone()).collect(),
                },
            });
        }
    }
    Schema::group(tables.into_iter().map(|((schema, _), mut t)| {
        t.columns.sort_by_key(|c| c.ordinal);
        (schema, t)
    }))
}

fn text(row: &Row, i: usize) -> Option<String> {
    row.try_get::<&str, _>(i).ok().flatten().map(str::to_string)
}

async fn rows(s: &mut MssqlSession, sql: &str) -> Result<Vec<Row>, ConnectorError> {
    let stream = s
        .simple_query(sql)
        .await
        .map_err(|e| map_error(&e, "the server"))?;
    stream
        .into_first_result()
        .await
        .map_err(|e| map_error(&e, "the server"))
}

pub async fn discover(s: &mut MssqlSession, cfg: &MssqlConfig) -> Result<Snapshot, ConnectorError> {
    let started = Instant::now();
    let filter = format!(
        "{} AND {}",
        schema_filter(cfg.schema.as_deref()),
        names_filter(&cfg.schema_filters)
    );
    let relations = rows(s, &relations_sql(&filter))
        .await?
        .iter()
        .map(|r| Relation {
            schema: text(r, 0).unwrap_or_default(),
            name: text(r, 1).unwrap_or_default(),
            kind: text(r, 2).unwrap_or_default(),
            comment: text(r, 3),
            rows: r.try_get::<i64, _>(4).ok().flatten(),
        })
        .collect();
    let columns = rows(s, &columns_sql(&filter))
        .await?
        .iter()
        .map(|r| ColumnRow {
            schema: text(r, 0).unwrap_or_default(),
            table: text(r, 1).unwrap_or_default(),
            name: text(r, 2).unwrap_or_default(),
            ordinal: r.try_get::<i32, _>(3).ok().flatten().unwrap_or(0),
            type_name: text(r, 4).unwrap_or_default(),
            max_length: r.try_get::<i16, _>(5).ok().flatten().unwrap_or(0),
            precision: r.try_get::<u8, _>(6).ok().flatten().unwrap_or(0),
            scale: r.try_get::<u8, _>(7).ok().flatten().unwrap_or(0),
            nullable: r.try_get::<bool, _>(8).ok().flatten().unwrap_or(true),
            default: text(r, 9),
            comment: text(r, 10),
        })
        .collect();
    let primary_keys = rows(s, &primary_keys_sql(&filter))
        .await?
        .iter()
        .map(|r| {
            (
                text(r, 0).unwrap_or_default(),
                text(r, 1).unwrap_or_default(),
                text(r, 2).unwrap_or_default(),
                r.try_get::<u8, _>(3)
                    .ok()
                    .flatten()
                    .map(i32::from)
                    .unwrap_or(0),
            )
        })
        .collect();
    let foreign_keys = rows(s, &foreign_keys_sql(&filter))
        .await?
        .iter()
        .map(|r| {
            let t = |i| text(r, i).unwrap_or_default();
            (
                t(0),
                t(1),
                t(2),
                t(3),
                t(4),
                t(5),
                t(6),
                r.try_get::<i32, _>(7).ok().flatten().unwrap_or(0),
            )
        })
        .collect();
    let schemas = assemble(relations, columns, primary_keys, foreign_keys);
    Ok(Snapshot::new(
        "mssql",
        vec![Database {
            name: cfg.database.clone(),
            schemas,
        }],
        started,
    ))
}

pub async fn list_databases(s: &mut MssqlSession) -> Result<Vec<String>, ConnectorError> {
    Ok(rows(s, "SELECT name FROM sys.databases WHERE database_id > 4 AND HAS_DBACCESS(name) = 1 ORDER BY name")
        .await?
        .iter()
        .filter_map(|r| text(r, 0))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_patterns_enter_as_escaped_literals_with_t_sql_wildcards_escaped() {
        let filters: SchemaFilters = serde_json::from_value(serde_json::json!({
            "schemas": {"include": ["sales*"]},
            "tables": {"exclude": ["t[1]_x'y"]}
        }))
        .unwrap();
        assert_eq!(
            names_filter(&filters),
            "(LOWER(s.name) LIKE LOWER(N'sales%') ESCAPE '!') AND \
             NOT (LOWER(o.name) LIKE LOWER(N't![1]!_x''y') ESCAPE '!')"
        );
        assert_eq!(names_filter(&SchemaFilters::default()), "1 = 1 AND 1 = 1");
    }

    #[test]
    fn values_enter_the_queries_only_as_escaped_literals() {
        assert_eq!(schema_filter(Some("o'brien")), "s.name = N'o''brien'");
        let sql = columns_sql(&schema_filter(None));
        assert!(sql.contains("s.name NOT IN (N'sys', N'INFORMATION_SCHEMA', N'guest')"));
        for sql in [
            relations_sql("1=1"),
            columns_sql("1=1"),
            primary_keys_sql("1=1"),
            foreign_keys_sql("1=1"),
        ] {
            assert!(sql.ends_with("1=1"), "{sql}");
            assert!(sql.starts_with("SELECT "));
        }
    }

    #[test]
    fn native_types_print_as_sql_server_prints_them() {
        assert_eq!(native_type("nvarchar", 100, 0, 0), "nvarchar(50)");
        assert_eq!(native_type("varchar", -1, 0, 0), "varchar(max)");
        assert_eq!(native_type("decimal", 9, 10, 2), "decimal(10,2)");
        assert_eq!(native_type("datetime2", 8, 27, 7), "datetime2(7)");
        assert_eq!(family("uniqueidentifier"), TypeFamily::Uuid);
        assert_eq!(family("bit"), TypeFamily::Boolean);
    }

    #[test]
    fn rows_assemble_into_tables_with_keys_in_order() {
        let rel = |name: &str, kind: &str| Relation {
            schema: "dbo".into(),
            name: name.into(),
            kind: kind.into(),
            comment: None,
            rows: Some(3),
        };
        let col = |table: &str, name: &str, ordinal: i32| ColumnRow {
            schema: "dbo".into(),
            table: table.into(),
            name: name.into(),
            ordinal,
            type_name: "int".into(),
            max_length: 4,
            precision: 10,
            scale: 0,
            nullable: false,
            default: None,
            comment: None,
        };
        let s = |v: &str| v.to_string();
        let schemas = assemble(
            vec![
                rel("orders", "U "),
                rel("lines", "U "),
                rel("v_orders", "V "),
            ],
            vec![
                col("lines", "line", 2),
                col("lines", "order_id", 1),
                col("orders", "id", 1),
                col("v_orders", "id", 1),
            ],
            vec![
                (s("dbo"), s("lines"), s("line"), 2),
                (s("dbo"), s("lines"), s("order_id"), 1),
                (s("dbo"), s("orders"), s("id"), 1),
            ],
            vec![(
                s("fk_l_o"),
                s("dbo"),
                s("lines"),
                s("order_id"),
                s("dbo"),
                s("orders"),
                s("id"),
                1,
            )],
        );
        assert_eq!(schemas.len(), 1);
        let lines = schemas[0]
            .tables
            .iter()
            .find(|t| t.name == "lines")
            .unwrap();
        assert_eq!(lines.primary_key, ["order_id", "line"]);
        assert_eq!(
            lines
                .columns
                .iter()
                .map(|c| c.name.as_str())
                .collect::<Vec<_>>(),
            ["order_id", "line"]
        );
        assert_eq!(lines.foreign_keys[0].references.table, "orders");
        assert_eq!(lines.row_estimate, Some(3));
        let view = schemas[0]
            .tables
            .iter()
            .find(|t| t.name == "v_orders")
            .unwrap();
        assert_eq!(view.kind, TableKind::View);
    }
}
