//! PostgreSQL credentials (also the wire settings of the PostgreSQL-compatible types).

use secrecy::SecretString;
use serde::Deserialize;

use crate::connectors::fields::{
    FieldKind, FieldSpec, HOST, NAME, PASSWORD, USERNAME, database, port, text,
};

pub const SSL_MODES: &[&str] = &["disable", "prefer", "require", "verify-full"];

pub const SCHEMA: FieldSpec = text(
    "schema",
    128,
    "limit discovery to this schema; all user schemas when absent",
);

pub const SSL_MODE: FieldSpec = FieldSpec {
    name: "sslMode",
    kind: FieldKind::OneOf(SSL_MODES),
    required: false,
    default: Some("\"prefer\""),
    secret: false,
    description: "disable; prefer or require (encrypt, as libpq: no certificate check); verify-full (encrypt and verify the certificate and host name)",
};

pub const FIELDS: &[FieldSpec] = &[
    NAME,
    HOST,
    port("5432"),
    USERNAME,
    PASSWORD,
    database(128, "database to connect to"),
    SCHEMA,
    SSL_MODE,
    crate::connectors::tunnel::TUNNEL,
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
