//! SQL Server (and Azure SQL) over TDS with tiberius, on a socket the egress guard
//! opened; a routing answer (Azure's gateway) is followed once, through the guard.
//! Discovery reads the `sys` catalog views in four queries (see discover.rs).

pub mod config;
pub mod discover;
pub mod session;

crate::connector!(Mssql(config::MssqlConfig, session::MssqlSession)[check, list_databases]);
