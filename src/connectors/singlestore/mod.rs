//! SingleStore: the MySQL wire protocol and a MySQL-compatible information_schema.

use crate::connectors::fields::{FieldSpec, HOST, NAME, PASSWORD, USERNAME, database, port};
use crate::connectors::mysql::config::{SCHEMA, SSL};

pub const FIELDS: &[FieldSpec] = &[
    NAME,
    HOST,
    port("3306"),
    USERNAME,
    PASSWORD,
    database(64, "database to connect to and discover"),
    SCHEMA,
    SSL,
];

pub const SINGLESTORE: crate::connectors::mysql::Mysql = crate::connectors::mysql::Mysql {
    fields: FIELDS,
    name: "singlestore",
    // SingleStore has no read-only session statement.
    read_only: false,
};
