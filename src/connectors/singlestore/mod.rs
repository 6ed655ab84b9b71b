//! SingleStore: the MySQL wire protocol and a MySQL-compatible information_schema.

use crate::connectors::fields::FieldSpec;

/// MySQL's fields, with the same defaults.
pub const FIELDS: &[FieldSpec] = crate::connectors::mysql::config::FIELDS;

pub const SINGLESTORE: crate::connectors::mysql::Mysql = crate::connectors::mysql::Mysql {
    fields: FIELDS,
    name: "singlestore",
    // SingleStore has no read-only session statement.
    read_only: false,
};
