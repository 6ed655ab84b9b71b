//! Snowflake's fields, its typed config, its checks, and the service URL the
//! account names.

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use crate::connectors::FieldProblem;
use crate::connectors::fields::{FieldSpec, NAME, text, url};
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
        "unencrypted PEM private key for key-pair authentication; or give password",
    )
    .multiline()
    .secret(),
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
];

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnowflakeConfig {
    pub account: String,
    pub user: String,
    pub password: Option<SecretString>,
    pub private_key: Option<SecretString>,
    pub warehouse: String,
    pub database: String,
    pub schema: Option<String>,
    pub role: Option<String>,
    pub endpoint: Option<String>,
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
                if let Err(p) = rsa_jwt::parse_key(key.expose_secret()) {
                    problems.push(FieldProblem::new("credentials.privateKey", p.describe()));
                }
            }
            _ => {}
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
            warehouse: "w".into(),
            database: "d".into(),
            schema: None,
            role: None,
            endpoint: None,
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
