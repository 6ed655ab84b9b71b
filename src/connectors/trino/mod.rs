//! Trino over its client protocol: `POST /v1/statement`, then follow `nextUri` until
//! the query ends, gathering `data`; every request through the egress guard.
//! Discovery from the catalog's information_schema in two queries.

pub mod config;
pub mod discover;
pub mod session;

crate::connector!(Trino(config::TrinoConfig, session::TrinoSession) [check, list_databases, ssl_mode]);
