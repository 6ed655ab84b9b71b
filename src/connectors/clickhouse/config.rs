//! ClickHouse's fields and its typed config.

use secrecy::SecretString;
use serde::Deserialize;

use crate::connectors::fields::{FieldKind, FieldSpec, HOST, NAME, PASSWORD, database, port};

pub const FIELDS: &[FieldSpec] = &[
    NAME,
    HOST,
    port("8123"),
    FieldSpec {
        name: "username",
        kind: FieldKind::Text { min: 1, max: 128 },
        required: false,
        default: Some("\"default\""),
        secret: false,
        description: "user to log in as",
    },
    PASSWORD,
    database(128, "database to discover"),
    FieldSpec {
        name: "ssl",
        kind: FieldKind::Bool,
        required: false,
        default: Some("false"),
        secret: false,
        description: "HTTPS with certificate verification (ClickHouse serves it on 8443 by default)",
    },
    crate::connectors::tunnel::TUNNEL,
];

#[derive(Clone, Deserialize)]
pub struct ClickhouseConfig {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: SecretString,
    pub database: String,
    pub ssl: bool,
}
