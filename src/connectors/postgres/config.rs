//! PostgreSQL credentials.

use secrecy::SecretString;
use serde::Deserialize;

use crate::connectors::fields::{FieldKind, FieldSpec, NAME};

pub const SSL_MODES: &[&str] = &["disable", "prefer", "require", "verify-full"];

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
        default: Some("5432"),
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
        kind: FieldKind::Text { min: 1, max: 128 },
        required: true,
        default: None,
        secret: false,
        description: "database to connect to",
    },
    FieldSpec {
        name: "schema",
        kind: FieldKind::Text { min: 1, max: 128 },
        required: false,
        default: None,
        secret: false,
        description: "limit discovery to this schema; all user schemas when absent",
    },
    FieldSpec {
        name: "sslMode",
        kind: FieldKind::OneOf(SSL_MODES),
        required: false,
        default: Some("\"prefer\""),
        secret: false,
        description: "disable; prefer or require (encrypt, as libpq: no certificate check); verify-full (encrypt and verify the certificate and host name)",
    },
];

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PostgresConfig {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: SecretString,
    pub database: String,
    pub schema: Option<String>,
    pub ssl_mode: SslMode,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SslMode {
    Disable,
    Prefer,
    Require,
    VerifyFull,
}
