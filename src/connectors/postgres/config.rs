//! PostgreSQL credentials (also the wire settings of the PostgreSQL-compatible types).

use secrecy::SecretString;
use serde::Deserialize;

use crate::connectors::fields::{
    FieldProblem, FieldSpec, HOST, NAME, PASSWORD, USERNAME, database, port, text,
};
use crate::connectors::schema_filters::SchemaFilters;
use crate::connectors::tls::{CA_CERTIFICATE, CLIENT_CERTIFICATE, CLIENT_KEY, TlsFields, ssl_mode};
pub use crate::egress::tls::SslMode;

pub const SCHEMA: FieldSpec = text(
    "schema",
    128,
    "limit discovery to this schema; all user schemas when absent",
);

/// libpq's default: TLS when offered, nothing checked (say so: it is no protection
/// against an attacker on the path).
pub const SSL_MODE: FieldSpec = ssl_mode("\"prefer\"");

pub const FIELDS: &[FieldSpec] = &[
    NAME,
    HOST,
    port("5432"),
    USERNAME,
    PASSWORD,
    database(128, "database to connect to"),
    SCHEMA,
    SSL_MODE,
    CA_CERTIFICATE,
    CLIENT_CERTIFICATE,
    CLIENT_KEY,
    crate::connectors::schema_filters::SCHEMAS_AND_TABLES_BY_CASE,
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
    #[serde(flatten)]
    pub tls: TlsFields,
    #[serde(default)]
    pub schema_filters: SchemaFilters,
}

impl PostgresConfig {
    pub fn check(&self) -> Result<(), Vec<FieldProblem>> {
        self.tls.check(self.ssl_mode, "sslMode")
    }
}
