//! Amazon S3 (and S3-compatible stores): every CSV, JSON-lines and Parquet object
//! under a prefix — or every folder of them — becomes a table. CSV and JSON columns
//! are inferred from a sample of the object's first bytes; Parquet columns are read
//! from the footer. All requests go through the AWS SDK, whose HTTP client the egress guard holds;
//! it signs in with access keys or assumes a role with an External ID.

pub mod client;
pub mod config;
pub mod discover;
pub mod parquet;
pub mod session;
mod thrift;

crate::connector!(
    /// Files have no databases or tables to split tenants by.
    Awss3(config::S3Config, client::S3) [check] tenancy = &[]);
