//! Discovery from information_schema, the list of databases, and Firebolt's type
//! names mapped onto families.

use std::time::Instant;

use super::config::FireboltConfig;
use super::session::FireboltSession;
use crate::connectors::ConnectorError;
use crate::connectors::schema_filters::Case;
use crate::connectors::support::info_schema::{self, Layout};
use crate::connectors::support::quote::firebolt::literal;
use crate::domain::snapshot::{Snapshot, TypeFamily};

pub async fn discover(
    s: &mut FireboltSession,
    cfg: &FireboltConfig,
) -> Result<Snapshot, ConnectorError> {
    let started = Instant::now();
    // Firebolt folds unquoted names to lower case, as PostgreSQL does, and keeps
    // quoted ones as written: names differ by case.
    let filter = format!(
        "table_catalog = {} AND table_schema NOT IN ('information_schema', 'pg_catalog') AND {}",
        literal(&cfg.database),
        info_schema::names_condition(&cfg.schema_filters, literal, info_schema::Like::Unescaped)
    );
    let tables = s
        .query(&format!(
            "SELECT table_schema, table_name, table_type, NULL FROM information_schema.tables WHERE {filter}"
        ))
        .await?;
    let columns = s
        .query(&format!(
            "SELECT table_schema, table_name, column_name, ordinal_position, data_type, is_nullable, column_default \
             FROM information_schema.columns WHERE {filter}"
        ))
        .await?;
    Ok(info_schema::snapshot(
        "firebolt",
        &cfg.database,
        (&tables, &columns),
        Layout {
            first_ordinal: 1,
            family,
            filters: (&cfg.schema_filters, Case::Sensitive),
        },
        started,
    ))
}

pub async fn list_databases(s: &mut FireboltSession) -> Result<Vec<String>, ConnectorError> {
    let rows = s
        .query("SELECT catalog_name FROM information_schema.catalogs ORDER BY catalog_name")
        .await?;
    Ok(info_schema::first_texts(&rows))
}

/// Maps a Firebolt type name onto a type family.
pub fn family(native: &str) -> TypeFamily {
    let lower = native.trim().to_ascii_lowercase();
    if lower.starts_with("array") || lower.ends_with("[]") {
        return TypeFamily::Array;
    }
    let base = lower.split('(').next().unwrap_or(&lower).trim();
    match base.trim_end_matches(" null").trim_end_matches(" not") {
        "int" | "integer" | "bigint" | "long" => TypeFamily::Integer,
        "real" | "float" | "double" | "double precision" => TypeFamily::Float,
        "numeric" | "decimal" => TypeFamily::Decimal,
        "text" | "string" | "varchar" => TypeFamily::String,
        "boolean" | "bool" => TypeFamily::Boolean,
        "date" | "pgdate" => TypeFamily::Date,
        "timestamp" | "timestamptz" | "timestampntz" => TypeFamily::Timestamp,
        "bytea" => TypeFamily::Binary,
        "geography" => TypeFamily::Other,
        _ => TypeFamily::Other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn firebolt_types_map_onto_families() {
        assert_eq!(family("INTEGER"), TypeFamily::Integer);
        assert_eq!(family("NUMERIC(38, 9)"), TypeFamily::Decimal);
        assert_eq!(family("DOUBLE PRECISION"), TypeFamily::Float);
        assert_eq!(family("ARRAY(TEXT NULL)"), TypeFamily::Array);
        assert_eq!(family("text[]"), TypeFamily::Array);
        assert_eq!(family("TIMESTAMPTZ"), TypeFamily::Timestamp);
        assert_eq!(family("bytea"), TypeFamily::Binary);
    }
}
