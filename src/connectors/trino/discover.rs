//! Discovery from the catalog's information_schema in two queries, the list of
//! catalogs, and Trino's type names mapped onto families.

use std::time::Instant;

use super::config::TrinoConfig;
use super::session::TrinoSession;
use crate::connectors::ConnectorError;
use crate::connectors::schema_filters::Case;
use crate::connectors::support::info_schema::{self, Layout};
use crate::connectors::support::quote::trino::{ident, literal};
use crate::domain::snapshot::{Snapshot, TypeFamily};

pub async fn discover(s: &TrinoSession, cfg: &TrinoConfig) -> Result<Snapshot, ConnectorError> {
    let started = Instant::now();
    let catalog = ident(&cfg.catalog);
    let filter = format!(
        "{} AND {}",
        info_schema::schema_filter(cfg.schema.as_deref(), literal),
        info_schema::names_condition(
            &cfg.schema_filters,
            literal,
            info_schema::Like::LowerCaseNames
        )
    );
    let tables_sql = format!(
        "SELECT table_schema, table_name, table_type FROM {catalog}.information_schema.tables WHERE {filter}"
    );
    let columns_sql = format!(
        "SELECT table_schema, table_name, column_name, ordinal_position, data_type, is_nullable, column_default \
         FROM {catalog}.information_schema.columns WHERE {filter}"
    );
    let (tables, columns) = tokio::try_join!(s.query(&tables_sql), s.query(&columns_sql))?;
    Ok(info_schema::snapshot(
        "trino",
        &cfg.catalog,
        (&tables, &columns),
        Layout {
            first_ordinal: 1,
            family,
            filters: (&cfg.schema_filters, Case::Insensitive),
        },
        started,
    ))
}

pub async fn list_databases(s: &TrinoSession) -> Result<Vec<String>, ConnectorError> {
    let rows = s.query("SHOW CATALOGS").await?;
    Ok(info_schema::first_texts(&rows))
}

/// Maps a Trino type name onto a type family.
pub fn family(native: &str) -> TypeFamily {
    let base = native
        .split('(')
        .next()
        .unwrap_or(native)
        .trim()
        .to_ascii_lowercase();
    match base.as_str() {
        "tinyint" | "smallint" | "integer" | "bigint" => TypeFamily::Integer,
        "real" | "double" => TypeFamily::Float,
        "decimal" => TypeFamily::Decimal,
        "varchar" | "char" | "ipaddress" => TypeFamily::String,
        "boolean" => TypeFamily::Boolean,
        "date" => TypeFamily::Date,
        b if b.starts_with("timestamp") => TypeFamily::Timestamp,
        b if b.starts_with("time") => TypeFamily::Time,
        "varbinary" => TypeFamily::Binary,
        "json" | "map" | "row" => TypeFamily::Json,
        "array" => TypeFamily::Array,
        "uuid" => TypeFamily::Uuid,
        _ => TypeFamily::Other,
    }
}
