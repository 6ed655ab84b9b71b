//! BigQuery over its REST API: an OAuth token for the service account (a JWT
//! grant signed with its key), datasets listed and kept to the configured
//! location, then one TABLES and one COLUMNS query per batch of datasets (never
//! per table) through `jobs.query`, following `pageToken` and polling while the
//! job runs. Nested STRUCT and ARRAY columns are flattened into paths.

pub mod config;
pub mod discover;
pub mod session;
pub mod types;

crate::connector!(
    /// One project is one database; tenants split by dataset are schemas.
    Bigquery(config::BigqueryConfig, session::BigquerySession) [check, list_databases]
    tenancy = &[crate::domain::tenancy::Level::Table]
);
