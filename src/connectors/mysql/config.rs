//! MySQL / MariaDB credentials.

use secrecy::SecretString;
use serde::Deserialize;

use crate::connectors::fields::{
    FieldSpec, HOST, NAME, PASSWORD, USERNAME, database, flag, port, text,
};
use crate::connectors::tls::{CA_CERTIFICATE, CLIENT_CERTIFICATE, CLIENT_KEY, TlsFields, ssl_mode};
use crate::egress::tls::SslMode;

pub const SCHEMA: FieldSpec = text(
    "schema",
    64,
    "in MySQL a schema is a database: discover this one instead of `database` when given",
);

pub const SSL: FieldSpec = flag(
    "ssl",
    false,
    "the older switch: true is sslMode verify-full, false is disable; sslMode wins when both are given",
);

/// No default: absent, `ssl` decides (and its default sends the password in clear,
/// which the connect step says when the server is not on loopback).
pub const SSL_MODE: FieldSpec = FieldSpec {
    default: None,
    ..ssl_mode("null")
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
    SSL_MODE,
    CA_CERTIFICATE,
    CLIENT_CERTIFICATE,
    CLIENT_KEY,
    crate::connectors::schema_filters::TABLES_ONLY,
    crate::connectors::tunnel::TUNNEL,
];

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MysqlConfig {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: SecretString,
    pub database: String,
    pub schema: Option<String>,
    pub ssl: bool,
    pub ssl_mode: Option<SslMode>,
    #[serde(flatten)]
    pub tls: TlsFields,
    #[serde(default)]
    pub schema_filters: crate::connectors::schema_filters::SchemaFilters,
}

impl MysqlConfig {
    /// `sslMode` when given, else what the older `ssl` switch means.
    pub fn mode(&self) -> SslMode {
        crate::connectors::tls::mode_or_switch(self.ssl_mode, self.ssl)
    }

    pub fn cleartext(&self) -> Option<String> {
        (self.mode() == SslMode::Disable).then(|| {
            crate::connectors::tls::cleartext_login(
                &self.host,
                "the login (a hash of the password an eavesdropper can attack offline) and every answer",
            )
        })?
    }

    pub fn check(&self) -> Result<(), Vec<crate::connectors::FieldProblem>> {
        self.tls.check(self.mode(), "sslMode")
    }

    pub fn discovered_schema(&self) -> &str {
        self.schema.as_deref().unwrap_or(&self.database)
    }
}
