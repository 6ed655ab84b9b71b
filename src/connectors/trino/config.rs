//! Trino's fields, its typed config and its check (a password only over TLS).

use secrecy::SecretString;
use serde::Deserialize;

use crate::connectors::FieldProblem;
use crate::connectors::fields::{FieldKind, FieldSpec, HOST, NAME, port, text};

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
        description: "HTTPS with certificate verification; a password needs it",
    },
    crate::connectors::tunnel::TUNNEL,
];

#[derive(Clone, Deserialize)]
pub struct TrinoConfig {
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: Option<SecretString>,
    pub catalog: String,
    pub schema: Option<String>,
    pub ssl: bool,
}

impl TrinoConfig {
    pub fn check(&self) -> Result<(), Vec<FieldProblem>> {
        if self.password.is_some() && !self.ssl {
            return Err(vec![FieldProblem::new(
                "credentials.password",
                "is sent only over TLS: set ssl to true",
            )]);
        }
        Ok(())
    }
}
