//! SingleStore: the MySQL wire protocol and a MySQL-compatible information_schema.

pub mod config;

pub use self::config::FIELDS;

pub const SINGLESTORE: crate::connectors::mysql::Mysql = crate::connectors::mysql::Mysql {
    fields: FIELDS,
    name: "singlestore",
    // SingleStore has no read-only session statement.
    read_only: false,
};
