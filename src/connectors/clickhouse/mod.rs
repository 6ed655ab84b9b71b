//! ClickHouse over its HTTP interface (8123, or 8443 with TLS), through the egress
//! guard. Queries go in the request body with `FORMAT JSONEachRow`; the user and
//! password travel as HTTP Basic authentication, never in the URL.

pub mod config;
pub mod discover;
pub mod session;

pub use self::config::{ClickhouseConfig, FIELDS};
pub use self::session::{ChSession, connect};

crate::connector! {
    Clickhouse {
        config: ClickhouseConfig,
        session: ChSession,
        fields: FIELDS,
        connect: connect,
        discover: discover::discover,
        list_databases: discover::list_databases,
    }
}
