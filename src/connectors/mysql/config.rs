//! MySQL / MariaDB credentials.

use secrecy::SecretString;
use serde::Deserialize;

use crate::connectors::fields::{
    FieldKind, FieldSpec, HOST, NAME, PASSWORD, USERNAME, database, port,
};

pub const SCHEMA: FieldSpec = FieldSpec {
    name: "schema",
    kind: FieldKind::Text { min: 1, max: 64 },
    required: false,
    default: None,
    secret: false,
    description: "in MySQL a schema is a database: discover this one instead of `database` when given",
};

pub const SSL: FieldSpec = FieldSpec {
    name: "ssl",
    kind: FieldKind::Bool,
    required: false,
    default: Some("false"),
    secret: false,
    description: "require TLS and verify the server's certificate",
};

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
