//! SQL Server's fields and its typed config.

use secrecy::SecretString;
use serde::Deserialize;

use crate::connectors::fields::{FieldKind, FieldSpec, HOST, NAME, port, text};

pub const FIELDS: &[FieldSpec] = &[
    NAME,
    FieldSpec {
        name: "server",
        description: "host name or IP address of the SQL Server",
        ..HOST
    },
    port("1433"),
    text("user", 128, "SQL Server login").required(),
    text("password", 1024, "password of that login")
        .required()
        .secret(),
    text("database", 128, "database to discover").required(),
    text(
        "schema",
        128,
        "limit discovery to this schema; all schemas of the database when absent",
    ),
    FieldSpec {
        name: "encrypt",
        kind: FieldKind::OneOf(&["strict", "required", "off"]),
        required: false,
        default: Some("\"required\""),
        secret: false,
        description: "TLS: strict (TDS 8.0), required, or off (the login alone is encrypted)",
    },
    FieldSpec {
        name: "trustServerCertificate",
        kind: FieldKind::Bool,
        required: false,
        default: Some("false"),
        secret: false,
        description: "accept the server's certificate without verifying it",
    },
    crate::connectors::tunnel::TUNNEL,
];

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MssqlConfig {
    pub server: String,
    pub port: u16,
    pub user: String,
    pub password: SecretString,
    pub database: String,
    pub schema: Option<String>,
    pub encrypt: String,
    pub trust_server_certificate: bool,
}
