//! Snowflake's fields, its typed config, its checks, and the service URL the
//! account names.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::connectors::FieldProblem;
use crate::connectors::fields::{FieldKind, FieldSpec, NAME, text, url};

/// The login methods, with DataBrain's names for them.
pub const AUTH_METHODS: &[&str] = &[
    "password",
    "key-pair",
    "username/password",
    "Key-pair authentication",
];
use crate::connectors::support::rsa_jwt;

pub const FIELDS: &[FieldSpec] = &[
    NAME,
    text(
        "account",
        255,
        "account identifier (myorg-myaccount or xy12345.us-east-1) or account URL",
    )
    .required(),
    text("user", 255, "login name").required(),
    text("password", 1024, "password; or give privateKey").secret(),
    text(
        "privateKey",
        16384,
        "PEM private key for key-pair authentication (PKCS#8, encrypted PKCS#8 with privateKeyPassphrase, or PKCS#1); or give password",
    )
    .multiline()
    .secret(),
    text(
        "privateKeyPassphrase",
        1024,
        "the passphrase of an encrypted privateKey",
    )
    .secret(),
    FieldSpec {
        name: "authMethod",
        kind: FieldKind::OneOf(AUTH_METHODS),
        required: false,
        default: None,
        secret: false,
        description: "password or key-pair (DataBrain's \"username/password\" and \"Key-pair authentication\" too); when absent, whichever of password and privateKey is given",
    },
    text("warehouse", 255, "warehouse the discovery queries run on").required(),
    text("database", 255, "database to discover").required(),
    text(
        "schema",
        255,
        "limit discovery to this schema; all schemas of the database when absent",
    ),
    text(
        "role",
        255,
        "role to use; the user's default role when absent",
    ),
    url(
        "endpoint",
        "the service URL when it is not https://<account>.snowflakecomputing.com (a proxy or a compatible server)",
    ),
    crate::connectors::schema_filters::SCHEMAS_AND_TABLES,
];

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnowflakeConfig {
    pub account: String,
    pub user: String,
    pub password: Option<SecretString>,
    pub private_key: Option<SecretString>,
    pub private_key_passphrase: Option<SecretString>,
    pub auth_method: Option<String>,
    pub warehouse: String,
    pub database: String,
    pub schema: Option<String>,
    pub role: Option<String>,
    pub endpoint: Option<String>,
    #[serde(default)]
    pub schema_filters: crate::connectors::schema_filters::SchemaFilters,
}

impl SnowflakeConfig {
    /// The account identifier, also when an account URL was given.
    pub fn account_id(&self) -> String {
        let a = self.account.trim();
        let host = a
            .strip_prefix("https://")
            .unwrap_or(a)
            .trim_end_matches('/');
        host.strip_suffix(".snowflakecomputing.com")
            .unwrap_or(host)
            .to_string()
    }

    pub fn check(&self) -> Result<(), Vec<FieldProblem>> {
        let mut problems = Vec::new();
        let id = self.account_id();
        if id.is_empty()
            || !id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_' || b == b'.')
        {
            problems.push(FieldProblem::new(
                "credentials.account",
                "must be an account identifier (letters, digits, - _ .) or https://<account>.snowflakecomputing.com",
            ));
        }
        match (&self.password, &self.private_key) {
            (None, None) => problems.push(FieldProblem::new(
                "credentials.password",
                "give a password or a privateKey",
            )),
            (Some(_), Some(_)) => problems.push(FieldProblem::new(
                "credentials.privateKey",
                "give either a password or a privateKey, not both",
            )),
            (None, Some(key)) => {
                // An encrypted key is decrypted by the worker (the CPU it costs is
                // the key's to name, and bounded there); here its shape and cost.
                let given = self.private_key_passphrase.is_some();
                if let Err(p) = rsa_jwt::check_key(key.expose_secret(), given) {
                    problems.push(FieldProblem::new("credentials.privateKey", p.describe()));
                }
            }
            _ => {}
        }
        let key_pair = matches!(
            self.auth_method.as_deref(),
            Some("key-pair" | "Key-pair authentication")
        );
        let password = matches!(
            self.auth_method.as_deref(),
            Some("password" | "username/password")
        );
        if key_pair && self.private_key.is_none() {
            problems.push(FieldProblem::new(
                "credentials.privateKey",
                "is required with authMethod key-pair",
            ));
        }
        if password && self.password.is_none() {
            problems.push(FieldProblem::new(
                "credentials.password",
                "is required with authMethod password",
            ));
        }
        crate::connectors::FieldProblem::none_or(problems)
    }

    pub(super) fn base(&self) -> String {
        match &self.endpoint {
            Some(e) => e.trim_end_matches('/').to_string(),
            None => format!("https://{}.snowflakecomputing.com", self.account_id()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(account: &str) -> SnowflakeConfig {
        SnowflakeConfig {
            account: account.into(),
            user: "u".into(),
            password: Some(SecretString::from("p")),
            private_key: None,
            private_key_passphrase: None,
            auth_method: None,
            warehouse: "w".into(),
            database: "d".into(),
            schema: None,
            role: None,
            endpoint: None,
            schema_filters: Default::default(),
        }
    }

    #[test]
    fn an_account_url_and_an_identifier_name_the_same_service() {
        let by_url = config("https://myorg-acct.snowflakecomputing.com/");
        assert_eq!(by_url.account_id(), "myorg-acct");
        assert_eq!(by_url.base(), "https://myorg-acct.snowflakecomputing.com");
        assert_eq!(
            config("xy12345.us-east-1").base(),
            "https://xy12345.us-east-1.snowflakecomputing.com"
        );
        assert!(config("bad/account").check().is_err());
    }
}
