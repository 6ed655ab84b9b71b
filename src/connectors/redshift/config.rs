//! Redshift's fields, and its credentials read as PostgreSQL wire settings.

use secrecy::SecretString;
use serde::Deserialize;

use crate::connectors::fields::{
    FieldKind, FieldSpec, HOST, NAME, PASSWORD, USERNAME, database, port,
};
use crate::connectors::postgres::config::{PostgresConfig, SCHEMA, SslMode};

pub const FIELDS: &[FieldSpec] = &[
    NAME,
    HOST,
    port("5439"),
    USERNAME,
    PASSWORD,
    database(127, "database to connect to (Redshift's default is dev)"),
    SCHEMA,
    FieldSpec {
        name: "ssl",
        kind: FieldKind::OneOf(&["enable", "disable"]),
        required: false,
        default: Some("\"enable\""),
        secret: false,
        description: "enable: the connection is encrypted (the certificate is not checked, as libpq's require); disable: plain",
    },
    crate::connectors::tunnel::TUNNEL,
];

#[derive(Deserialize)]
struct RedshiftCredentials {
    host: String,
    port: u16,
    username: String,
    password: SecretString,
    database: String,
    schema: Option<String>,
    ssl: String,
}

/// Redshift's credentials as PostgreSQL wire settings.
#[derive(Deserialize)]
#[serde(from = "RedshiftCredentials")]
pub struct RedshiftConfig(pub PostgresConfig);

impl From<RedshiftCredentials> for RedshiftConfig {
    fn from(c: RedshiftCredentials) -> RedshiftConfig {
        RedshiftConfig(PostgresConfig {
            host: c.host,
            port: c.port,
            username: c.username,
            password: c.password,
            database: c.database,
            schema: c.schema,
            ssl_mode: if c.ssl == "disable" {
                SslMode::Disable
            } else {
                SslMode::Require
            },
        })
    }
}
