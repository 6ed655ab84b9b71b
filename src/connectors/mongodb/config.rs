//! MongoDB's fields and their checks: by host and port, or by a connection string
//! read against an allow-list (`uri.rs`).

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::uri;
use crate::connectors::FieldProblem;
use crate::connectors::fields::{FieldKind, FieldSpec, HOST, NAME, port, text};

pub const FIELDS: &[FieldSpec] = &[
    NAME,
    FieldSpec {
        required: false,
        description: "host name or IP address of the server; or give uri",
        ..HOST
    },
    port("27017"),
    text(
        "uri",
        4096,
        "a mongodb:// or mongodb+srv:// connection string; instead of host and port. Only SCRAM logins, and no options that name files, proxies or credentials of the environment",
    )
    .secret(),
    text(
        "username",
        128,
        "user to log in as; none for a server without auth",
    ),
    text("password", 1024, "password of that user").secret(),
    text("authDatabase", 128, "database the user is defined in").or("\"admin\""),
    FieldSpec {
        name: "tls",
        kind: FieldKind::Bool,
        required: false,
        default: Some("false"),
        secret: false,
        description: "TLS with certificate verification (always on for mongodb+srv); sslMode says more and wins",
    },
    MONGO_SSL_MODE,
    crate::connectors::tls::CA_CERTIFICATE,
    crate::connectors::tls::CLIENT_CERTIFICATE,
    crate::connectors::tls::CLIENT_KEY,
    text(
        "database",
        128,
        "limit discovery to this database; all databases when absent",
    ),
    FieldSpec {
        name: "sampleSize",
        kind: FieldKind::Integer {
            min: 1,
            max: 10_000,
        },
        required: false,
        default: Some("100"),
        secret: false,
        description: "documents sampled per collection to infer its fields",
    },
    crate::connectors::schema_filters::DATABASES_AND_TABLES_BY_CASE,
    crate::connectors::tunnel::TUNNEL,
];

/// The relay chooses TLS before it connects: no `prefer`.
const MONGO_SSL_MODE: FieldSpec = FieldSpec {
    default: None,
    description: "disable; require (TLS, the certificate NOT checked); verify-ca (the certificate must chain to caCertificate, or to a public authority); verify-full (and name the host). Wins over tls and over a connection string's tls; when absent, those decide (on is verify-full). prefer is refused",
    ..crate::connectors::tls::ssl_mode("null")
};

/// Databases that hold the server's own state, not the user's data.
pub const SYSTEM_DATABASES: &[&str] = &["admin", "local", "config"];

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MongoConfig {
    pub host: Option<String>,
    pub port: u16,
    pub uri: Option<SecretString>,
    pub username: Option<String>,
    pub password: Option<SecretString>,
    pub auth_database: String,
    pub tls: bool,
    pub ssl_mode: Option<crate::egress::tls::SslMode>,
    #[serde(flatten)]
    pub tls_fields: crate::connectors::tls::TlsFields,
    pub database: Option<String>,
    pub sample_size: u32,
    #[serde(default)]
    pub schema_filters: crate::connectors::schema_filters::SchemaFilters,
}

impl MongoConfig {
    /// `sslMode` when given (it wins over a connection string's `tls`); otherwise the
    /// connection string's `tls` (on for `mongodb+srv`), else the `tls` switch. On
    /// verifies the certificate and the name.
    pub fn mode(&self) -> crate::egress::tls::SslMode {
        let switch = match self.uri.as_ref().map(|u| uri::read(u.expose_secret())) {
            Some(Ok(target)) => target
                .tls
                .unwrap_or(matches!(target.seeds, uri::Seeds::Srv(_)) || self.tls),
            _ => self.tls,
        };
        crate::connectors::tls::mode_or_switch(self.ssl_mode, switch)
    }

    /// The TLS the relay speaks when TLS is on (by the fields, or by the connection
    /// string): the mode asked for, verifying fully when only a switch said "on".
    pub fn policy_when_on(&self) -> crate::egress::tls::TlsPolicy {
        use crate::egress::tls::SslMode;
        let mode = match self.mode() {
            SslMode::Disable | SslMode::Prefer => SslMode::VerifyFull,
            m => m,
        };
        self.tls_fields.policy(mode)
    }

    /// Host mode only: a connection string's `tls` is its own.
    pub fn cleartext(&self) -> Option<String> {
        let host = self.host.as_deref().filter(|_| {
            self.mode() == crate::egress::tls::SslMode::Disable && self.uri.is_none()
        })?;
        crate::connectors::tls::cleartext_login(
            host,
            "the login (a SCRAM exchange) and every document sampled",
        )
    }

    pub fn check(&self) -> Result<(), Vec<FieldProblem>> {
        let mut problems = Vec::new();
        match (&self.host, &self.uri) {
            (None, None) => problems.push(FieldProblem::new(
                "credentials.host",
                "give a host or a uri",
            )),
            (Some(_), Some(_)) => problems.push(FieldProblem::new(
                "credentials.uri",
                "give either a host or a uri, not both",
            )),
            (None, Some(text)) => {
                if let Err(why) = uri::read(text.expose_secret()) {
                    problems.push(FieldProblem::new("credentials.uri", why));
                }
            }
            _ => {}
        }
        if self.password.is_some() && self.username.is_none() {
            problems.push(FieldProblem::new(
                "credentials.username",
                "is required with a password",
            ));
        }
        // The relay chooses TLS before the first byte, as an HTTP client does its
        // scheme: there is no falling back, so no `prefer`.
        if let Err(tls) = self.tls_fields.check_http(self.mode(), "sslMode") {
            problems.extend(tls.into_iter().map(|mut p| {
                if p.field == "credentials.sslMode" {
                    p.problem = "prefer is not offered for mongodb (TLS is chosen before connecting): use require or stronger, or disable".into();
                }
                p
            }));
        }
        crate::connectors::FieldProblem::none_or(problems)
    }
}
