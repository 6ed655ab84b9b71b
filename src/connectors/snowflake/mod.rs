//! Snowflake over the connector protocol its drivers speak: `login-request` (by
//! password or a key-pair JWT), then `query-request` with the session token,
//! polling `getResultUrl` while a query runs and fetching result chunks; results
//! decode from Arrow IPC or JSON. Discovery reads the database's INFORMATION_SCHEMA
//! in two queries. Every request goes through the egress guard.

pub mod keypair;
pub mod results;

use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::connectors::fields::{FieldSpec, NAME, text, url};
use crate::connectors::info_schema::{self, Layout};
use crate::connectors::{ConnectorError, Fault, FieldProblem, rsa_jwt};
use crate::egress::Egress;
use crate::egress::http::GuardedClient;
use crate::snapshot::{Database, Snapshot, TypeFamily};

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
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems)
        }
    }

    fn base(&self) -> String {
        match &self.endpoint {
            Some(e) => e.trim_end_matches('/').to_string(),
            None => format!("https://{}.snowflakecomputing.com", self.account_id()),
        }
    }
}

pub struct SnowflakeSession {
    client: GuardedClient,
    base: String,
    token: SecretString,
    sequence: u64,
}

fn short(text: &str) -> String {
    text.chars().take(300).collect()
}

/// A Snowflake answer with `success: false`, by its documented code and message.
fn failure(body: &Value, during: &str) -> ConnectorError {
    let code = body["code"].as_str().unwrap_or("");
    let message = short(body["message"].as_str().unwrap_or("no message"));
    let lower = message.to_ascii_lowercase();
    match code {
        // 390100 wrong user or password; 390144 JWT invalid; 394304 JWT key not registered.
        "390100" | "390144" | "394304" | "390102" | "390422" => ConnectorError::new(
            Fault::Authentication,
            format!("snowflake refused the login ({code}): {message}"),
            "check the user and password, or that the key's public half is set on the user (ALTER USER ... SET RSA_PUBLIC_KEY)",
        ),
        _ if lower.contains("does not exist or not authorized")
            || lower.contains("does not have a current database") =>
        {
            ConnectorError::new(
                Fault::UnknownDatabase,
                format!("{during}: {message}"),
                "check the database, schema and warehouse names, and that the role may use them",
            )
        }
        _ if lower.contains("role") && lower.contains("not granted") => ConnectorError::new(
            Fault::Permission,
            format!("{during}: {message}"),
            "grant the role to the user, or leave role empty for the default role",
        ),
        _ if lower.contains("insufficient privileges") => ConnectorError::new(
            Fault::Permission,
            format!("{during}: {message}"),
            "grant USAGE on the warehouse, database and schemas to the role",
        ),
        _ => ConnectorError::new(
            Fault::Protocol,
            format!("{during} failed ({code}): {message}"),
            "see the query history in Snowflake",
        ),
    }
}

fn request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

impl SnowflakeSession {
    async fn post(&self, url: &str, body: &Value) -> Result<Value, ConnectorError> {
        let request = self
            .client
            .request(reqwest::Method::POST, url)?
            .header(
                "authorization",
                format!("Snowflake Token=\"{}\"", self.token.expose_secret()),
            )
            .header("accept", "application/snowflake")
            .json(body);
        read_json(self.client.send(request).await?, "the query").await
    }

    async fn get(&self, url: &str) -> Result<Value, ConnectorError> {
        let request = self
            .client
            .request(reqwest::Method::GET, url)?
            .header(
                "authorization",
                format!("Snowflake Token=\"{}\"", self.token.expose_secret()),
            )
            .header("accept", "application/snowflake");
        read_json(self.client.send(request).await?, "the query").await
    }

    /// Runs `sql` and returns every row, from the first rowset and every chunk.
    pub async fn query(&mut self, sql: &str) -> Result<Vec<Vec<Value>>, ConnectorError> {
        self.sequence += 1;
        let url = format!(
            "{}/queries/v1/query-request?requestId={}",
            self.base,
            request_id()
        );
        let submitted = chrono::Utc::now().timestamp_millis();
        let mut answer = self
            .post(
                &url,
                &json!({"sqlText": sql, "asyncExec": false, "sequenceId": self.sequence, "querySubmissionTime": submitted}),
            )
            .await?;
        let mut pause = Duration::from_millis(100);
        // 333333 and 333334: the query still runs; its result is at getResultUrl.
        while matches!(answer["code"].as_str(), Some("333333" | "333334")) {
            let Some(path) = answer["data"]["getResultUrl"].as_str() else {
                return Err(failure(&answer, "the query"));
            };
            tokio::time::sleep(pause).await;
            pause = (pause * 2).min(Duration::from_secs(2));
            answer = self.get(&format!("{}{path}", self.base)).await?;
        }
        if answer["success"] != json!(true) {
            return Err(failure(&answer, "the query"));
        }
        let data = &answer["data"];
        let arrow = data["queryResultFormat"].as_str() == Some("arrow");
        let mut rows = if arrow {
            decode_arrow(data["rowsetBase64"].as_str().unwrap_or(""))?
        } else {
            results::json_rows(&data["rowset"])
        };
        for chunk in data["chunks"].as_array().into_iter().flatten() {
            let Some(url) = chunk["url"].as_str() else {
                continue;
            };
            rows.extend(self.chunk(url, data, arrow).await?);
        }
        Ok(rows)
    }

    /// A result chunk from cloud storage, with the headers the answer names.
    async fn chunk(
        &self,
        url: &str,
        data: &Value,
        arrow: bool,
    ) -> Result<Vec<Vec<Value>>, ConnectorError> {
        let mut request = self.client.request(reqwest::Method::GET, url)?;
        if let Some(headers) = data["chunkHeaders"].as_object() {
            for (k, v) in headers {
                request = request.header(k.as_str(), v.as_str().unwrap_or(""));
            }
        } else if let Some(qrmk) = data["qrmk"].as_str() {
            request = request
                .header("x-amz-server-side-encryption-customer-algorithm", "AES256")
                .header("x-amz-server-side-encryption-customer-key", qrmk);
        }
        let response = self.client.send(request).await?;
        let status = response.status().as_u16();
        let bytes = response.bytes().await.map_err(|e| {
            ConnectorError::new(
                Fault::Protocol,
                format!("result chunk: {e}"),
                "retry the job",
            )
        })?;
        if status != 200 {
            return Err(ConnectorError::new(
                Fault::Protocol,
                format!("a result chunk answered http {status}"),
                "retry the job; chunk URLs expire after a few hours",
            ));
        }
        let bytes = gunzip_if_needed(&bytes)?;
        let decoded = if arrow {
            results::arrow_rows(&bytes)
        } else {
            results::json_chunk_rows(&String::from_utf8_lossy(&bytes))
        };
        decoded.map_err(|e| {
            ConnectorError::new(
                Fault::Protocol,
                format!("result chunk: {e}"),
                "retry the job",
            )
        })
    }
}

/// Chunks may come gzip-compressed without a Content-Encoding header.
fn gunzip_if_needed(bytes: &[u8]) -> Result<Vec<u8>, ConnectorError> {
    if !bytes.starts_with(&[0x1f, 0x8b]) {
        return Ok(bytes.to_vec());
    }
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::GzDecoder::new(bytes), &mut out).map_err(
        |e| {
            ConnectorError::new(
                Fault::Protocol,
                format!("result chunk: {e}"),
                "retry the job",
            )
        },
    )?;
    Ok(out)
}

fn decode_arrow(base64_text: &str) -> Result<Vec<Vec<Value>>, ConnectorError> {
    use base64::Engine;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(base64_text)
        .map_err(|e| {
            ConnectorError::new(Fault::Protocol, format!("rowset: {e}"), "retry the job")
        })?;
    results::arrow_rows(&bytes)
        .map_err(|e| ConnectorError::new(Fault::Protocol, format!("rowset: {e}"), "retry the job"))
}

async fn read_json(response: reqwest::Response, during: &str) -> Result<Value, ConnectorError> {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap_or_default();
    match serde_json::from_str::<Value>(&text) {
        Ok(v) if v.get("success").is_some() => Ok(v),
        _ => Err(ConnectorError::new(
            if status == 401 || status == 403 {
                Fault::Authentication
            } else {
                Fault::Protocol
            },
            format!("{during} answered http {status}: {}", short(text.trim())),
            "check the account and endpoint",
        )),
    }
}

pub async fn connect(
    cfg: &SnowflakeConfig,
    egress: &Egress,
) -> Result<SnowflakeSession, ConnectorError> {
    let client = GuardedClient::new(egress.clone(), reqwest::Client::builder())?;
    let base = cfg.base();
    let mut data = json!({
        "CLIENT_APP_ID": "onramp",
        "CLIENT_APP_VERSION": env!("CARGO_PKG_VERSION"),
        "ACCOUNT_NAME": keypair::claim_account(&cfg.account_id()),
        "LOGIN_NAME": cfg.user,
        "CLIENT_ENVIRONMENT": {"APPLICATION": "onramp"},
        "SESSION_PARAMETERS": {"QUERY_TAG": "onramp discovery"},
    });
    match (&cfg.private_key, &cfg.password) {
        (Some(pem), _) => {
            let key = rsa_jwt::parse_key(pem.expose_secret()).map_err(|p| {
                ConnectorError::new(
                    Fault::Authentication,
                    format!("privateKey {}", p.describe()),
                    "give the user's PEM private key",
                )
            })?;
            data["AUTHENTICATOR"] = json!("SNOWFLAKE_JWT");
            data["TOKEN"] = json!(keypair::token(
                &key,
                &cfg.account_id(),
                &cfg.user,
                chrono::Utc::now().timestamp()
            ));
        }
        (None, Some(password)) => data["PASSWORD"] = json!(password.expose_secret()),
        (None, None) => unreachable!("validation requires one"),
    }
    let mut query: Vec<(&str, &str)> = vec![
        ("databaseName", &cfg.database),
        ("warehouse", &cfg.warehouse),
    ];
    if let Some(schema) = &cfg.schema {
        query.push(("schemaName", schema));
    }
    if let Some(role) = &cfg.role {
        query.push(("roleName", role));
    }
    let rid = request_id();
    query.push(("request_id", &rid));
    let request = client
        .request(
            reqwest::Method::POST,
            &format!("{base}/session/v1/login-request"),
        )?
        .query(&query)
        .header("accept", "application/json")
        .json(&json!({ "data": data }));
    let answer = read_json(client.send(request).await?, "the login").await?;
    let Some(token) = answer["data"]["token"]
        .as_str()
        .filter(|_| answer["success"] == json!(true))
    else {
        return Err(failure(&answer, "the login"));
    };
    let mut session = SnowflakeSession {
        client,
        base,
        token: SecretString::from(token.to_string()),
        sequence: 0,
    };
    session.query("SELECT CURRENT_DATABASE()").await?;
    Ok(session)
}

fn literal(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

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
    let schemas = info_schema::schemas(
        &tables,
        &columns,
        &Layout {
            first_ordinal: 1,
            family,
        },
    );
    Ok(Snapshot::new(
        "snowflake",
        vec![Database {
            name: cfg.database.clone(),
            schemas,
        }],
        started,
    ))
}

pub async fn list_databases(s: &mut SnowflakeSession) -> Result<Vec<String>, ConnectorError> {
    let rows = s
        .query("SELECT database_name FROM information_schema.databases ORDER BY database_name")
        .await?;
    Ok(rows
        .iter()
        .filter_map(|r| r.first().and_then(Value::as_str).map(str::to_string))
        .collect())
}

/// DATA_TYPE names the type alone (`NUMBER`, `TEXT`); precision, scale and length
/// come in their own columns (8 to 10), and make the type whole: `NUMBER(10,2)`.
fn with_full_type(mut row: Vec<Value>) -> Vec<Value> {
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

    #[test]
    fn snowflake_types_map_onto_families() {
        assert_eq!(family("NUMBER"), TypeFamily::Integer);
        assert_eq!(family("NUMBER(38,0)"), TypeFamily::Integer);
        assert_eq!(family("NUMBER(10,2)"), TypeFamily::Decimal);
        assert_eq!(family("TIMESTAMP_NTZ"), TypeFamily::Timestamp);
        assert_eq!(family("VARIANT"), TypeFamily::Json);
        assert_eq!(family("TEXT"), TypeFamily::String);
    }

    #[test]
    fn login_failures_map_by_their_documented_codes() {
        let refused = failure(
            &json!({"success": false, "code": "390100", "message": "Incorrect username or password was specified."}),
            "the login",
        );
        assert_eq!(refused.fault, Fault::Authentication);
        let missing = failure(
            &json!({"success": false, "code": "002003", "message": "SQL compilation error: Database 'X' does not exist or not authorized."}),
            "the query",
        );
        assert_eq!(missing.fault, Fault::UnknownDatabase);
    }
}
