//! Amazon Athena: the connection test through the Athena API (the workgroup), and
//! discovery through the Glue Data Catalog behind Athena's AwsDataCatalog
//! (databases, tables, columns, partition keys), paged, never one call per table.

pub mod config;
pub mod discover;
pub mod session;

crate::connector!(Athena(config::AthenaConfig, session::AthenaSession) [check, list_databases]);
