//! Snowflake over the connector protocol its drivers speak (session.rs), results
//! decoded from Arrow IPC or JSON (results.rs), key-pair login (keypair.rs).
//! Discovery reads the database's INFORMATION_SCHEMA in two queries.

pub mod config;
pub mod discover;
pub mod keypair;
pub mod results;
pub mod session;

crate::connector!(
    Snowflake(config::SnowflakeConfig, session::SnowflakeSession)
    [check, list_databases]
);
