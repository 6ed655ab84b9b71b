//! MySQL / MariaDB credentials.

use secrecy::SecretString;
use serde::Deserialize;

use crate::connectors::fields::{
    FieldSpec, HOST, NAME, PASSWORD, USERNAME, database, flag, port, text,
};

pub const SCHEMA: FieldSpec = text(
    "schema",
    64,
    "in MySQL a schema is a database: discover this one instead of `database` when given",
);

pub const SSL: FieldSpec = flag(
    "ssl",
    false,
    "require TLS and verify the server's certificate",
);

pub const FIELDS: &[FieldSpec] = &[
    NAME,
    HOST,
    port("3306"),
    USERNAME,
    PASSWORD,
    database(64, "database to connect to and discover"),
    SCHEMA,
    SSL,
    crate::connectors::tunnel::TUNNEL,
];

#[derive(Clone, Deserialize)]
pub struct MysqlConfig {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: SecretString,
    pub database: String,
    pub schema: Option<String>,
    pub ssl: bool,
}

impl MysqlConfig {
    pub fn discovered_schema(&self) -> &str {
        self.schema.as_deref().unwrap_or(&self.database)
    }
}
