//! ClickHouse over its HTTP interface (8123, or 8443 with TLS), through the egress
//! guard. Queries go in the request body with `FORMAT JSONEachRow`; the user and
//! password travel as HTTP Basic authentication, never in the URL.

pub mod config;
pub mod discover;
pub mod session;

crate::connector!(Clickhouse(config::ClickhouseConfig, session::ChSession)[check, list_databases, cleartext, ssl_mode]);
