//! Redshift's fields, and its credentials read as PostgreSQL wire settings.

use secrecy::SecretString;
use serde::Deserialize;

use crate::connectors::fields::{FieldSpec, HOST, NAME, PASSWORD, USERNAME, database, port};
use crate::connectors::postgres::config::{PostgresConfig, SCHEMA, SslMode};
use crate::connectors::tls::{CA_CERTIFICATE, TlsFields, ssl_mode};

pub const FIELDS: &[FieldSpec] = &[
    NAME,
    HOST,
    port("5439"),
    USERNAME,
    PASSWORD,
    database(127, "database to connect to (Redshift's default is dev)"),
    SCHEMA,
    // Redshift's users (and DataBrain) call it `ssl`, with enable/disable; the
    // verifying modes are libpq's.
    FieldSpec {
        name: "ssl",
        description: "enable or require: encrypted, the certificate NOT checked (as libpq's require); verify-ca or verify-full: checked against caCertificate (Amazon's public CA when absent); disable: plain",
        ..ssl_mode("\"enable\"")
    },
    CA_CERTIFICATE,
    crate::connectors::schema_filters::SCHEMAS_AND_TABLES,
    crate::connectors::tunnel::TUNNEL,
];

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RedshiftCredentials {
    host: String,
    port: u16,
    username: String,
    password: SecretString,
    database: String,
    schema: Option<String>,
    ssl: SslMode,
    ca_certificate: Option<String>,
    #[serde(default)]
    schema_filters: crate::connectors::schema_filters::SchemaFilters,
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
            ssl_mode: c.ssl,
            tls: TlsFields {
                ca_certificate: c.ca_certificate,
                client_certificate: None,
                client_key: None,
            },
            schema_filters: c.schema_filters,
        })
    }
}
