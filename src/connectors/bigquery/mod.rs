//! BigQuery over its REST API: an OAuth token for the service account (a JWT
//! grant signed with its key), datasets listed and kept to the configured
//! location, then one TABLES and one COLUMNS query per batch of datasets (never
//! per table) through `jobs.query`, following `pageToken` and polling while the
//! job runs. Nested STRUCT and ARRAY columns are flattened into paths.

pub mod config;
pub mod discover;
pub mod session;
pub mod types;

pub use self::config::{BigqueryConfig, FIELDS};
pub use self::discover::{discover, list_databases};
pub use self::session::{BigquerySession, connect};

crate::connector! {
    /// One project is one database; tenants split by dataset are schemas.
    Bigquery {
        config: BigqueryConfig,
        session: BigquerySession,
        fields: FIELDS,
        tenancy: &[crate::connectors::tenancy::Level::Table],
        check: BigqueryConfig::check,
        connect: connect,
        discover: discover,
        list_databases: list_databases,
    }
}
