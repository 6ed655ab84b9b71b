//! Helpers that several connectors share: nothing here is a datasource type.

pub mod aws;
pub mod infer;
pub mod info_schema;
pub mod limits;
pub mod oauth;
pub mod quote;
pub mod rsa_jwt;
