//! MySQL / MariaDB credentials.

use secrecy::SecretString;
use serde::Deserialize;

use crate::connectors::fields::{FieldKind, FieldSpec, NAME};

pub const FIELDS: &[FieldSpec] = &[
    NAME,
    FieldSpec {
        name: "host",
        kind: FieldKind::Host,
        required: true,
        default: None,
        secret: false,
        description: "host name or IP address of the server",
    },
    FieldSpec {
        name: "port",
        kind: FieldKind::Port,
        required: false,
        default: Some("3306"),
        secret: false,
        description: "TCP port",
    },
    FieldSpec {
        name: "username",
        kind: FieldKind::Text { min: 1, max: 128 },
        required: true,
        default: None,
        secret: false,
        description: "user to log in as",
    },
    FieldSpec {
        name: "password",
        kind: FieldKind::Text { min: 0, max: 1024 },
        required: false,
        default: Some("\"\""),
        secret: true,
        description: "password of that user",
    },
    FieldSpec {
        name: "database",
        kind: FieldKind::Text { min: 1, max: 64 },
        required: true,
        default: None,
        secret: false,
        description: "database to connect to and discover",
    },
    FieldSpec {
        name: "schema",
        kind: FieldKind::Text { min: 1, max: 64 },
        required: false,
        default: None,
        secret: false,
        description: "in MySQL a schema is a database: discover this one instead of `database` when given",
    },
    FieldSpec {
        name: "ssl",
        kind: FieldKind::Bool,
        required: false,
        default: Some("false"),
        secret: false,
        description: "require TLS and verify the server's certificate",
    },
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
