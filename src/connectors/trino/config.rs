//! Trino's fields, its typed config and its check (a password only over TLS).

use secrecy::SecretString;
use serde::Deserialize;

use crate::connectors::FieldProblem;
use crate::connectors::fields::{FieldKind, FieldSpec, HOST, NAME, port, text};
use crate::connectors::tls::{
    CA_CERTIFICATE, CLIENT_CERTIFICATE, CLIENT_KEY, HTTP_SSL_MODE, TlsFields, mode_or_switch,
};
use crate::egress::tls::SslMode;

pub const FIELDS: &[FieldSpec] = &[
    NAME,
    HOST,
    port("443"),
    text("user", 128, "user the queries run as").required(),
    text("password", 1024, "password (sent only over TLS)").secret(),
    text("catalog", 255, "catalog to discover").required(),
    text(
        "schema",
        255,
        "limit discovery to this schema; all schemas of the catalog when absent",
    ),
    FieldSpec {
        name: "ssl",
        kind: FieldKind::Bool,
        required: false,
        default: Some("true"),
        secret: false,
        description: "HTTPS with certificate verification; a password needs it; sslMode says more and wins",
    },
    HTTP_SSL_MODE,
    CA_CERTIFICATE,
    CLIENT_CERTIFICATE,
    CLIENT_KEY,
    crate::connectors::schema_filters::SCHEMAS_AND_TABLES,
    crate::connectors::tunnel::TUNNEL,
];

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TrinoConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<SecretString>,
    pub catalog: String,
    pub schema: Option<String>,
    pub ssl: bool,
    pub ssl_mode: Option<SslMode>,
    #[serde(flatten)]
    pub tls: TlsFields,
    #[serde(default)]
    pub schema_filters: crate::connectors::schema_filters::SchemaFilters,
}

impl TrinoConfig {
    pub fn mode(&self) -> SslMode {
        mode_or_switch(self.ssl_mode, self.ssl)
    }

    pub fn check(&self) -> Result<(), Vec<FieldProblem>> {
        let mut problems = self
            .tls
            .check_http(self.mode(), "sslMode")
            .err()
            .unwrap_or_default();
        if self.password.is_some() && self.mode() == SslMode::Disable {
            problems.push(FieldProblem::new(
                "credentials.password",
                "is sent only over TLS: set ssl to true (or sslMode to require or stronger)",
            ));
        }
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }
}
