//! SQL Server (and Azure SQL) over TDS with tiberius, on a socket the egress guard
//! opened; a routing answer (Azure's gateway) is followed once, through the guard.
//! Discovery reads the `sys` catalog views in four queries (see discover.rs).

pub mod config;
pub mod discover;
pub mod session;

pub use self::config::{FIELDS, MssqlConfig};
pub use self::session::{MssqlSession, connect};

crate::connector! {
    Mssql {
        config: MssqlConfig,
        session: MssqlSession,
        fields: FIELDS,
        connect: connect,
        discover: discover::discover,
        list_databases: discover::list_databases,
    }
}
