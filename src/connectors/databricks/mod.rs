//! Databricks: the SQL Statement Execution API on a SQL warehouse (submit, poll,
//! follow result chunks), discovery from Unity Catalog's information_schema, all
//! through the egress guard with a bearer token.

pub mod config;
pub mod discover;
pub mod session;

crate::connector!(
    Databricks(config::DatabricksConfig, session::DatabricksSession)
    [check, list_databases]
);
