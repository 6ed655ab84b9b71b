//! The session: Trino's client protocol (post the statement, follow `nextUri`,
//! gather `data`), and the mapping of its errors into connector errors.

use std::time::Duration;

use secrecy::ExposeSecret;
use serde_json::Value;

use super::config::TrinoConfig;
use crate::connectors::Net;
use crate::connectors::support::info_schema;
use crate::connectors::{ConnectorError, Fault};
use crate::egress::http::GuardedClient;

pub struct TrinoSession {
    client: GuardedClient,
    base: String,
    cfg: TrinoConfig,
}

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
    let (client, scheme) = match cfg.mode() {
        crate::egress::tls::SslMode::Disable => (net.http()?, "http"),
        mode => (net.http_tls(&cfg.tls.policy(mode))?, "https"),
    };
    let host = if cfg.host.contains(':') && !cfg.host.starts_with('[') {
        format!("[{}]", cfg.host)
    } else {
        cfg.host.clone()
    };
    let session = TrinoSession {
        client,
        base: format!("{scheme}://{host}:{}/", cfg.port),
        cfg: cfg.clone(),
    };
    // Proves the address, the user and the catalog.
    session
        .query(&info_schema::schemata_probe(&ident(&cfg.catalog)))
        .await?;
    Ok(session)
}
