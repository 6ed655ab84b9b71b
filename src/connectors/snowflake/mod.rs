//! Snowflake over the connector protocol its drivers speak (session.rs), results
//! decoded from Arrow IPC or JSON (results.rs), key-pair login (keypair.rs).
//! Discovery reads the database's INFORMATION_SCHEMA in two queries.

pub mod keypair;
pub mod results;
pub mod session;

pub use session::{SnowflakeSession, connect};

use std::time::Instant;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use crate::connectors::fields::{FieldSpec, NAME, text, url};
use crate::connectors::support::info_schema::{self, Layout};
use crate::connectors::support::rsa_jwt;
use crate::connectors::{ConnectorError, FieldProblem};
use crate::snapshot::{Snapshot, TypeFamily};

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

    fn base(&self) -> String {
        match &self.endpoint {
            Some(e) => e.trim_end_matches('/').to_string(),
            None => format!("https://{}.snowflakecomputing.com", self.account_id()),
        }
    }
}

use crate::connectors::support::quote::snowflake::literal;

pub async fn discover(
    s: &mut SnowflakeSession,
    cfg: &SnowflakeConfig,
) -> Result<Snapshot, ConnectorError> {
    let started = Instant::now();
    // Unquoted names resolve as Snowflake resolves them (upper case); the filter
    // compares with what the catalog stores.
    let filter = match &cfg.schema {
        Some(schema) => format!("table_schema = UPPER({})", literal(schema)),
        None => "table_schema <> 'INFORMATION_SCHEMA'".to_string(),
    };
    let tables = s
        .query(&format!(
            // TABLES lists views too on Snowflake; VIEWS is added for servers whose
            // TABLES does not, and UNION drops the rows both give.
            "SELECT table_schema, table_name, table_type, comment FROM information_schema.tables WHERE {filter} \
             UNION SELECT table_schema, table_name, 'VIEW', comment FROM information_schema.views WHERE {filter}"
        ))
        .await?;
    let columns = s
        .query(&format!(
            "SELECT table_schema, table_name, column_name, ordinal_position, data_type, is_nullable, column_default, comment, \
             numeric_precision, numeric_scale, character_maximum_length FROM information_schema.columns WHERE {filter}"
        ))
        .await?
        .into_iter()
        .map(with_full_type)
        .collect::<Vec<_>>();
    Ok(info_schema::snapshot(
        "snowflake",
        &cfg.database,
        (&tables, &columns),
        Layout {
            first_ordinal: 1,
            family,
        },
        started,
    ))
}

pub async fn list_databases(s: &mut SnowflakeSession) -> Result<Vec<String>, ConnectorError> {
    let rows = s
        .query("SELECT database_name FROM information_schema.databases ORDER BY database_name")
        .await?;
    Ok(info_schema::first_texts(&rows))
}

/// DATA_TYPE names the type alone (`NUMBER`, `TEXT`); precision, scale and length
/// come in their own columns (8 to 10), and make the type whole: `NUMBER(10,2)`.
pub fn with_full_type(mut row: Vec<Value>) -> Vec<Value> {
    let number = |v: Option<&Value>| {
        v.and_then(|v| {
            v.as_u64()
                .or_else(|| v.as_str().and_then(|s| s.parse().ok()))
        })
    };
    let base = row.get(4).and_then(Value::as_str).unwrap_or("").to_string();
    let full = match (
        base.as_str(),
        number(row.get(8)),
        number(row.get(9)),
        number(row.get(10)),
    ) {
        ("NUMBER", Some(p), Some(s), _) => format!("NUMBER({p},{s})"),
        ("TEXT", _, _, Some(len)) => format!("VARCHAR({len})"),
        _ => base,
    };
    // A short row is the server's doing: pad it rather than index past its end.
    if row.len() < 8 {
        row.resize(8, Value::Null);
    }
    row[4] = Value::String(full);
    row.truncate(8);
    row
}

/// Maps a Snowflake data type onto a type family.
pub fn family(native: &str) -> TypeFamily {
    let upper = native.trim().to_ascii_uppercase();
    let base = upper.split('(').next().unwrap_or(&upper).trim();
    match base {
        "NUMBER" | "DECIMAL" | "NUMERIC" => {
            // NUMBER(p, 0) holds integers; a scale makes it decimal.
            if upper.ends_with(",0)") || upper.ends_with(", 0)") || upper == "NUMBER" {
                TypeFamily::Integer
            } else {
                TypeFamily::Decimal
            }
        }
        "INT" | "INTEGER" | "BIGINT" | "SMALLINT" | "TINYINT" | "BYTEINT" => TypeFamily::Integer,
        "FLOAT" | "FLOAT4" | "FLOAT8" | "DOUBLE" | "DOUBLE PRECISION" | "REAL" => TypeFamily::Float,
        "TEXT" | "VARCHAR" | "CHAR" | "CHARACTER" | "STRING" => TypeFamily::String,
        "BOOLEAN" => TypeFamily::Boolean,
        "DATE" => TypeFamily::Date,
        "TIME" => TypeFamily::Time,
        b if b.starts_with("TIMESTAMP") || b == "DATETIME" => TypeFamily::Timestamp,
        "VARIANT" | "OBJECT" => TypeFamily::Json,
        "ARRAY" => TypeFamily::Array,
        "BINARY" | "VARBINARY" => TypeFamily::Binary,
        _ => TypeFamily::Other,
    }
}

crate::connector! {
    Snowflake {
        config: SnowflakeConfig,
        session: SnowflakeSession,
        fields: FIELDS,
        check: SnowflakeConfig::check,
        connect: connect,
        discover: discover,
        list_databases: list_databases,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_row_shorter_than_the_query_asked_for_is_padded_not_a_panic() {
        for row in [vec![], vec![Value::from("PUBLIC")], vec![Value::Null; 4]] {
            assert_eq!(with_full_type(row).len(), 8);
        }
    }

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

    #[test]
    fn snowflake_types_map_onto_families() {
        assert_eq!(family("NUMBER"), TypeFamily::Integer);
        assert_eq!(family("NUMBER(38,0)"), TypeFamily::Integer);
        assert_eq!(family("NUMBER(10,2)"), TypeFamily::Decimal);
        assert_eq!(family("TIMESTAMP_NTZ"), TypeFamily::Timestamp);
        assert_eq!(family("VARIANT"), TypeFamily::Json);
        assert_eq!(family("TEXT"), TypeFamily::String);
    }
}
