//! Discovery from the database's INFORMATION_SCHEMA in two queries, the list of
//! databases, and Snowflake's data types made whole and mapped onto families.

use std::time::Instant;

use serde_json::Value;

use super::config::SnowflakeConfig;
use super::session::SnowflakeSession;
use crate::connectors::ConnectorError;
use crate::connectors::schema_filters::Case;
use crate::connectors::support::info_schema::{self, Layout};
use crate::connectors::support::quote::snowflake::literal;
use crate::domain::snapshot::{Snapshot, TypeFamily};

pub async fn discover(
    s: &mut SnowflakeSession,
    cfg: &SnowflakeConfig,
) -> Result<Snapshot, ConnectorError> {
    let started = Instant::now();
    // Unquoted names resolve as Snowflake resolves them (upper case); the filter
    // compares with what the catalog stores.
    let filter = match &cfg.schema {
        Some(schema) => format!("table_schema = UPPER({})", literal(schema)),
        None => "table_schema <> 'INFORMATION_SCHEMA'".to_string(),
    };
    // Unquoted names are stored upper case and quoted ones as written: the
    // patterns compare without case, as a user who types `sales*` means.
    let filter = format!(
        "{filter} AND {}",
        info_schema::names_condition(
            &cfg.schema_filters,
            literal,
            info_schema::Like::Escaped(Case::Insensitive)
        )
    );
    let tables = s
        .query(&format!(
            // TABLES lists views too on Snowflake; VIEWS is added for servers whose
            // TABLES does not, and UNION drops the rows both give.
            "SELECT table_schema, table_name, table_type, comment FROM information_schema.tables WHERE {filter} \
             UNION SELECT table_schema, table_name, 'VIEW', comment FROM information_schema.views WHERE {filter}"
        ))
        .await?;
    let columns = s
        .query(&format!(
            "SELECT table_schema, table_name, column_name, ordinal_position, data_type, is_nullable, column_default, comment, \
             numeric_precision, numeric_scale, character_maximum_length FROM information_schema.columns WHERE {filter}"
        ))
        .await?
        .into_iter()
        .map(with_full_type)
        .collect::<Vec<_>>();
    Ok(info_schema::snapshot(
        "snowflake",
        &cfg.database,
        (&tables, &columns),
        Layout {
            first_ordinal: 1,
            family,
            filters: (&cfg.schema_filters, Case::Insensitive),
        },
        started,
    ))
}

pub async fn list_databases(s: &mut SnowflakeSession) -> Result<Vec<String>, ConnectorError> {
    let rows = s
        .query("SELECT database_name FROM information_schema.databases ORDER BY database_name")
        .await?;
    Ok(info_schema::first_texts(&rows))
}

/// DATA_TYPE names the type alone (`NUMBER`, `TEXT`); precision, scale and length
/// come in their own columns (8 to 10), and make the type whole: `NUMBER(10,2)`.
pub fn with_full_type(mut row: Vec<Value>) -> Vec<Value> {
    let number = |v: Option<&Value>| {
        v.and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
    };
    let base = row.get(4).and_then(Value::as_str).unwrap_or("").to_string();
    let full = match (
        base.as_str(),
        number(row.get(8)),
        number(row.get(9)),
        number(row.get(10)),
    ) {
        ("NUMBER", Some(p), Some(s), _) => format!("NUMBER({p},{s})"),
        ("TEXT", _, _, Some(len)) => format!("VARCHAR({len})"),
        _ => base,
    };
    // A short row is the server's doing: pad it rather than index past its end.
    if row.len() < 8 {
        row.resize(8, Value::Null);
    }
    row[4] = Value::String(full);
    row.truncate(8);
    row
}

/// Maps a Snowflake data type onto a type family.
pub fn family(native: &str) -> TypeFamily {
    let upper = native.trim().to_ascii_uppercase();
    let base = upper.split('(').next().unwrap_or(&upper).trim();
    match base {
        "NUMBER" | "DECIMAL" | "NUMERIC" => {
            // NUMBER(p, 0) holds integers; a scale makes it decimal.
            if upper.ends_with(",0)") || upper.ends_with(", 0)") || upper == "NUMBER" {
                TypeFamily::Integer
            } else {
                TypeFamily::Decimal
            }
        }
        "INT" | "INTEGER" | "BIGINT" | "SMALLINT" | "TINYINT" | "BYTEINT" => TypeFamily::Integer,
        "FLOAT" | "FLOAT4" | "FLOAT8" | "DOUBLE" | "DOUBLE PRECISION" | "REAL" => TypeFamily::Float,
        "TEXT" | "VARCHAR" | "CHAR" | "CHARACTER" | "STRING" => TypeFamily::String,
        "BOOLEAN" => TypeFamily::Boolean,
        "DATE" => TypeFamily::Date,
        "TIME" => TypeFamily::Time,
        b if b.starts_with("TIMESTAMP") || b == "DATETIME" => TypeFamily::Timestamp,
        "VARIANT" | "OBJECT" => TypeFamily::Json,
        "ARRAY" => TypeFamily::Array,
        "BINARY" | "VARBINARY" => TypeFamily::Binary,
        _ => TypeFamily::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_row_shorter_than_the_query_asked_for_is_padded_not_a_panic() {
        for row in [vec![], vec![Value::from("PUBLIC")], vec![Value::Null; 4]] {
            assert_eq!(with_full_type(row).len(), 8);
        }
    }

    #[test]
    fn snowflake_types_map_onto_families() {
        assert_eq!(family("NUMBER"), TypeFamily::Integer);
        assert_eq!(family("NUMBER(38,0)"), TypeFamily::Integer);
        assert_eq!(family("NUMBER(10,2)"), TypeFamily::Decimal);
        assert_eq!(family("TIMESTAMP_NTZ"), TypeFamily::Timestamp);
        assert_eq!(family("VARIANT"), TypeFamily::Json);
        assert_eq!(family("TEXT"), TypeFamily::String);
    }
}
