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
    crate::connectors::fields::text(
        "caCertificate",
        16 * 1024,
        "PEM, one or more certificates: authorities trusted besides the worker's system store (a private CA, the RDS bundle); not with trustServerCertificate",
    )
    .multiline(),
    crate::connectors::schema_filters::SCHEMAS_AND_TABLES,
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
    pub ca_certificate: Option<String>,
    #[serde(default)]
    pub schema_filters: crate::connectors::schema_filters::SchemaFilters,
}

impl MssqlConfig {
    /// A CA is for verifying: pointless when nothing is verified, or nothing encrypted.
    pub fn check(&self) -> Result<(), Vec<crate::connectors::FieldProblem>> {
        use crate::connectors::FieldProblem;
        let mut problems = Vec::new();
        if let Some(pem) = &self.ca_certificate {
            if let Some(p) = crate::egress::tls::pem_problem("caCertificate", pem) {
                problems.push(FieldProblem::new("credentials.caCertificate", p));
            }
            if self.trust_server_certificate {
                problems.push(FieldProblem::new(
                    "credentials.caCertificate",
                    "is not used with trustServerCertificate (nothing is verified then)",
                ));
            }
            if self.encrypt == "off" {
                problems.push(FieldProblem::new(
                    "credentials.caCertificate",
                    "needs encrypt strict or required",
                ));
            }
        }
        FieldProblem::none_or(problems)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_ca_is_refused_where_nothing_would_be_verified_with_it() {
        let cfg = |encrypt: &str, trust: bool, ca: &str| MssqlConfig {
            server: "db".into(),
            port: 1433,
            user: "u".into(),
            password: SecretString::from("p".to_string()),
            database: "d".into(),
            schema: None,
            encrypt: encrypt.into(),
            trust_server_certificate: trust,
            ca_certificate: Some(ca.into()),
            schema_filters: Default::default(),
        };
        let fields = |c: MssqlConfig| -> Vec<String> {
            c.check()
                .err()
                .unwrap_or_default()
                .into_iter()
                .map(|p| p.problem)
                .collect()
        };
        let pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
        assert!(
            fields(cfg("required", true, pem))
                .iter()
                .any(|p| p.contains("trustServerCertificate"))
        );
        assert!(
            fields(cfg("off", false, pem))
                .iter()
                .any(|p| p.contains("encrypt"))
        );
        assert!(!fields(cfg("required", false, "not pem")).is_empty());
    }
}
