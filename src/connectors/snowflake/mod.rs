//! Snowflake over the connector protocol its drivers speak (session.rs), results
//! decoded from Arrow IPC or JSON (results.rs), key-pair login (keypair.rs).
//! Discovery reads the database's INFORMATION_SCHEMA in two queries.

pub mod config;
pub mod discover;
pub mod keypair;
pub mod results;
pub mod session;

pub use self::config::{FIELDS, SnowflakeConfig};
pub use self::discover::{discover, list_databases, with_full_type};
pub use self::session::{SnowflakeSession, connect};

crate::connector! {
    Snowflake {
        config: SnowflakeConfig,
        session: SnowflakeSession,
        fields: FIELDS,
        check: SnowflakeConfig::check,
        connect: connect,
        discover: discover,
        list_databases: list_databases,
    }
}
