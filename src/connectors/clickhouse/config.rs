//! ClickHouse's fields and its typed config.

use secrecy::SecretString;
use serde::Deserialize;

use crate::connectors::fields::{FieldKind, FieldSpec, HOST, NAME, PASSWORD, database, port};
use crate::connectors::tls::{
    CA_CERTIFICATE, CLIENT_CERTIFICATE, CLIENT_KEY, HTTP_SSL_MODE, TlsFields, mode_or_switch,
};
use crate::egress::tls::SslMode;

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
        description: "HTTPS with certificate verification (ClickHouse serves it on 8443 by default); sslMode says more and wins",
    },
    HTTP_SSL_MODE,
    CA_CERTIFICATE,
    CLIENT_CERTIFICATE,
    CLIENT_KEY,
    crate::connectors::schema_filters::TABLES_ONLY_BY_CASE,
    crate::connectors::tunnel::TUNNEL,
];

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ClickhouseConfig {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub password: SecretString,
    pub database: String,
    pub ssl: bool,
    pub ssl_mode: Option<SslMode>,
    #[serde(flatten)]
    pub tls: TlsFields,
    #[serde(default)]
    pub schema_filters: crate::connectors::schema_filters::SchemaFilters,
}

impl ClickhouseConfig {
    pub fn mode(&self) -> SslMode {
        mode_or_switch(self.ssl_mode, self.ssl)
    }

    pub fn cleartext(&self) -> Option<String> {
        (self.mode() == SslMode::Disable).then(|| {
            crate::connectors::tls::cleartext_login(
                &self.host,
                "the password (HTTP Basic authentication) and every answer",
            )
        })?
    }

    pub fn check(&self) -> Result<(), Vec<crate::connectors::FieldProblem>> {
        self.tls.check_http(self.mode(), "sslMode")
    }
}
