//! Discovery from Unity Catalog's information_schema, and the list of catalogs.

use std::time::Instant;

use super::config::DatabricksConfig;
use super::session::DatabricksSession;
use crate::connectors::ConnectorError;
use crate::connectors::schema_filters::Case;
use crate::connectors::support::aws::hive::hive_family;
use crate::connectors::support::info_schema::{self, Layout};
use crate::domain::snapshot::Snapshot;

/// A backtick-quoted identifier.
use crate::connectors::support::quote::databricks::ident;

/// A single-quoted SQL string.
use crate::connectors::support::quote::databricks::literal;

pub async fn discover(
    s: &DatabricksSession,
    cfg: &DatabricksConfig,
) -> Result<Snapshot, ConnectorError> {
    let started = Instant::now();
    let catalog = ident(&cfg.catalog);
    // Unity Catalog stores names in lower case and compares them without case.
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
        "SELECT table_schema, table_name, table_type, comment FROM {catalog}.information_schema.tables WHERE {filter}"
    );
    let columns_sql = format!(
        "SELECT table_schema, table_name, column_name, ordinal_position, full_data_type, is_nullable, column_default, comment \
         FROM {catalog}.information_schema.columns WHERE {filter}"
    );
    let (tables, columns) = tokio::try_join!(s.query(&tables_sql), s.query(&columns_sql))?;
    Ok(info_schema::snapshot(
        "databricks",
        &cfg.catalog,
        (&tables, &columns),
        Layout {
            first_ordinal: 0,
            family: hive_family,
            filters: (&cfg.schema_filters, Case::Insensitive),
        },
        started,
    ))
}

pub async fn list_databases(s: &DatabricksSession) -> Result<Vec<String>, ConnectorError> {
    let rows = s
        .query("SELECT catalog_name FROM system.information_schema.catalogs ORDER BY catalog_name")
        .await?;
    Ok(info_schema::first_texts(&rows))
}
