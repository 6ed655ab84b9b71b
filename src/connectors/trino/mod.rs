//! Trino over its client protocol: `POST /v1/statement`, then follow `nextUri` until
//! the query ends, gathering `data`; every request through the egress guard.
//! Discovery from the catalog's information_schema in two queries.

use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::Value;

use crate::connectors::Net;
use crate::connectors::fields::{FieldKind, FieldSpec, HOST, NAME, port, text};
use crate::connectors::support::info_schema::{self, Layout};
use crate::connectors::{ConnectorError, Fault, FieldProblem};
use crate::egress::http::GuardedClient;
use crate::snapshot::{Snapshot, TypeFamily};

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

pub struct TrinoSession {
    client: GuardedClient,
    base: String,
    cfg: TrinoConfig,
}

use crate::connectors::support::quote::trino::literal;

use crate::connectors::support::quote::trino::ident;

impl TrinoSession {
    fn with_auth(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let request = request
            .header("x-trino-user", &self.cfg.user)
            .header("x-trino-source", "onramp");
        match &self.cfg.password {
            Some(p) => request.basic_auth(&self.cfg.user, Some(p.expose_secret())),
            None => request,
        }
    }

    async fn page(&self, request: reqwest::RequestBuilder) -> Result<Value, ConnectorError> {
        let response = self.client.send(self.with_auth(request)).await?;
        let status = response.status().as_u16();
        let text = if status == 200 {
            self.client.read_text(response).await?
        } else {
            self.client.read_error_text(response).await
        };
        match status {
            200 => serde_json::from_str(&text).map_err(|e| {
                ConnectorError::new(
                    Fault::Protocol,
                    format!("unexpected answer: {e}"),
                    "check that the port is Trino's HTTP port",
                )
            }),
            401 => Err(ConnectorError::new(
                Fault::Authentication,
                format!("login as {} was refused: {}", self.cfg.user, text.trim()),
                "check the user and password",
            )),
            // The protocol asks clients to retry 502, 503 and 504 after a pause.
            502..=504 => Ok(Value::Null),
            _ => Err(ConnectorError::new(
                Fault::Protocol,
                format!("trino answered http {status}: {}", text.trim()),
                "check the host and port",
            )),
        }
    }

    /// Runs `sql`: posts it, follows `nextUri`, gathers the rows.
    pub async fn query(&self, sql: &str) -> Result<Vec<Vec<Value>>, ConnectorError> {
        let first = self
            .client
            .request(reqwest::Method::POST, &format!("{}v1/statement", self.base))?
            .header("x-trino-catalog", &self.cfg.catalog)
            .body(sql.to_string());
        let mut results = self.page(first).await?;
        let mut rows = Vec::new();
        let mut pause = Duration::from_millis(50);
        let mut pages = crate::connectors::Pages::new("the query's nextUri chain");
        loop {
            pages.one_more()?;
            if let Some(error) = results.get("error").filter(|e| !e.is_null()) {
                return Err(query_error(error, &self.cfg));
            }
            let had_data = results["data"].is_array();
            for row in results["data"].as_array().into_iter().flatten() {
                rows.push(row.as_array().cloned().unwrap_or_default());
            }
            let Some(next) = results["nextUri"].as_str().map(str::to_string) else {
                if results.is_null() {
                    return Err(ConnectorError::new(
                        Fault::Protocol,
                        "trino ended the query without an answer",
                        "retry",
                    ));
                }
                return Ok(rows);
            };
            if !had_data {
                // Queued or planning: wait a little, growing, rather than spin.
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_millis(500));
            }
            // nextUri may name another host: the guard checks it like any URL.
            results = self
                .page(self.client.request(reqwest::Method::GET, &next)?)
                .await?;
        }
    }
}

fn query_error(error: &Value, cfg: &TrinoConfig) -> ConnectorError {
    let name = error["errorName"].as_str().unwrap_or("");
    let message = error["message"]
        .as_str()
        .unwrap_or("")
        .chars()
        .take(300)
        .collect::<String>();
    match name {
        "CATALOG_NOT_FOUND" | "SCHEMA_NOT_FOUND" => ConnectorError::new(
            Fault::UnknownDatabase,
            format!(
                "catalog {} (or its schema) does not exist: {message}",
                cfg.catalog
            ),
            "check the catalog and schema names (SHOW CATALOGS lists them)",
        ),
        "PERMISSION_DENIED" => ConnectorError::new(
            Fault::Permission,
            format!("the user lacks a privilege: {message}"),
            "grant the user SELECT on the catalog's information_schema",
        ),
        _ => ConnectorError::new(
            Fault::Protocol,
            format!("the query failed: {name}: {message}"),
            "see the query in Trino's web UI",
        ),
    }
}

pub async fn connect(cfg: &TrinoConfig, net: &Net) -> Result<TrinoSession, ConnectorError> {
    let scheme = if cfg.ssl { "https" } else { "http" };
    let host = if cfg.host.contains(':') && !cfg.host.starts_with('[') {
        format!("[{}]", cfg.host)
    } else {
        cfg.host.clone()
    };
    let session = TrinoSession {
        client: net.http()?,
        base: format!("{scheme}://{host}:{}/", cfg.port),
        cfg: cfg.clone(),
    };
    // Proves the address, the user and the catalog.
    session
        .query(&format!(
            "SELECT schema_name FROM {}.information_schema.schemata LIMIT 1",
            ident(&cfg.catalog)
        ))
        .await?;
    Ok(session)
}

pub async fn discover(s: &TrinoSession, cfg: &TrinoConfig) -> Result<Snapshot, ConnectorError> {
    let started = Instant::now();
    let catalog = ident(&cfg.catalog);
    let filter = info_schema::schema_filter(cfg.schema.as_deref(), literal);
    let tables_sql = format!(
        "SELECT table_schema, table_name, table_type FROM {catalog}.information_schema.tables WHERE {filter}"
    );
    let columns_sql = format!(
        "SELECT table_schema, table_name, column_name, ordinal_position, data_type, is_nullable, column_default \
         FROM {catalog}.information_schema.columns WHERE {filter}"
    );
    let (tables, columns) = tokio::try_join!(s.query(&tables_sql), s.query(&columns_sql))?;
    Ok(info_schema::snapshot(
        "trino",
        &cfg.catalog,
        (&tables, &columns),
        Layout {
            first_ordinal: 1,
            family,
        },
        started,
    ))
}

pub async fn list_databases(s: &TrinoSession) -> Result<Vec<String>, ConnectorError> {
    let rows = s.query("SHOW CATALOGS").await?;
    Ok(info_schema::first_texts(&rows))
}

/// Maps a Trino type name onto a type family.
pub fn family(native: &str) -> TypeFamily {
    let base = native
        .split('(')
        .next()
        .unwrap_or(native)
        .trim()
        .to_ascii_lowercase();
    match base.as_str() {
        "tinyint" | "smallint" | "integer" | "bigint" => TypeFamily::Integer,
        "real" | "double" => TypeFamily::Float,
        "decimal" => TypeFamily::Decimal,
        "varchar" | "char" | "ipaddress" => TypeFamily::String,
        "boolean" => TypeFamily::Boolean,
        "date" => TypeFamily::Date,
        b if b.starts_with("timestamp") => TypeFamily::Timestamp,
        b if b.starts_with("time") => TypeFamily::Time,
        "varbinary" => TypeFamily::Binary,
        "json" | "map" | "row" => TypeFamily::Json,
        "array" => TypeFamily::Array,
        "uuid" => TypeFamily::Uuid,
        _ => TypeFamily::Other,
    }
}

crate::connector! {
    Trino {
        config: TrinoConfig,
        session: TrinoSession,
        fields: FIELDS,
        check: TrinoConfig::check,
        connect: connect,
        discover: discover,
        list_databases: list_databases,
    }
}
