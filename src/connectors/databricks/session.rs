//! The session: the SQL Statement Execution API (submit, poll, follow result
//! chunks) with a bearer token, and the mapping of its errors into connector errors.

use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::config::DatabricksConfig;
use crate::connectors::Net;
use crate::connectors::support::{info_schema, oauth};
use crate::connectors::{ConnectorError, Fault};
use crate::egress::http::GuardedClient;

pub struct DatabricksSession {
    client: GuardedClient,
    base: String,
    cfg: DatabricksConfig,
    /// The personal access token, or the one the workspace's OAuth endpoint gave
    /// the service principal.
    token: SecretString,
}

/// A backtick-quoted identifier.
use crate::connectors::support::quote::databricks::ident;

impl DatabricksSession {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<Value, ConnectorError> {
        let mut request = self
            .client
            .request(method, &format!("{}{path}", self.base))?
            .bearer_auth(self.token.expose_secret());
        if let Some(b) = body {
            request = request.json(&b);
        }
        let response = self.client.send(request).await?;
        let status = response.status().as_u16();
        let value: Value = self.client.read_json(response).await?;
        if (200..300).contains(&status) {
            return Ok(value);
        }
        let message = value["message"].as_str().unwrap_or("").to_string();
        Err(match status {
            401 | 403 => ConnectorError::new(
                Fault::Authentication,
                format!("the access token was refused: {message}"),
                "check the access token, and that it may use this warehouse",
            ),
            404 => ConnectorError::new(
                Fault::UnknownDatabase,
                format!("the warehouse or API was not found: {message}"),
                "check the host and the HTTP path",
            ),
            _ => ConnectorError::new(
                Fault::Protocol,
                format!("{path} answered http {status}: {message}"),
                "check the host",
            ),
        })
    }

    /// Runs `sql` to completion: submits it, polls while it runs, gathers every chunk.
    pub async fn query(&self, sql: &str) -> Result<Vec<Vec<Value>>, ConnectorError> {
        let warehouse = self.cfg.warehouse_id().expect("checked at validation");
        let mut statement = self
            .call(
                reqwest::Method::POST,
                "api/2.0/sql/statements/",
                Some(
                    json!({"warehouse_id": warehouse, "statement": sql, "catalog": self.cfg.catalog,
                            "wait_timeout": "10s", "on_wait_timeout": "CONTINUE",
                            "disposition": "INLINE", "format": "JSON_ARRAY"}),
                ),
            )
            .await?;
        let id = statement["statement_id"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut pause = Duration::from_millis(100);
        let mut polls = crate::connectors::Pages::new("polling the statement");
        loop {
            polls.one_more()?;
            match statement["status"]["state"].as_str() {
                Some("SUCCEEDED") => break,
                Some("PENDING" | "RUNNING") => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_secs(2));
                    statement = self
                        .call(
                            reqwest::Method::GET,
                            &format!("api/2.0/sql/statements/{id}"),
                            None,
                        )
                        .await?;
                }
                state => {
                    return Err(statement_error(
                        &statement,
                        state.unwrap_or("unknown"),
                        &self.cfg,
                    ));
                }
            }
        }
        let mut rows: Vec<Vec<Value>> = Vec::new();
        let mut chunk = statement["result"].clone();
        let mut pages = crate::connectors::Pages::new("the result's chunk links");
        loop {
            pages.one_more()?;
            for row in chunk["data_array"].as_array().into_iter().flatten() {
                rows.push(row.as_array().cloned().unwrap_or_default());
            }
            let Some(next) = chunk["next_chunk_internal_link"]
                .as_str()
                .map(|l| l.trim_start_matches('/').to_string())
            else {
                return Ok(rows);
            };
            chunk = self.call(reqwest::Method::GET, &next, None).await?;
        }
    }
}

fn statement_error(statement: &Value, state: &str, cfg: &DatabricksConfig) -> ConnectorError {
    let error = &statement["status"]["error"];
    let code = error["error_code"].as_str().unwrap_or("");
    let message =
        crate::connectors::support::limits::short(error["message"].as_str().unwrap_or(""));
    if message.contains("NO_SUCH_CATALOG")
        || message.contains("SCHEMA_NOT_FOUND")
        || code == "NOT_FOUND"
    {
        return ConnectorError::new(
            Fault::UnknownDatabase,
            format!(
                "catalog {} (or its schema) does not exist: {message}",
                cfg.catalog
            ),
            "check the catalog and schema names, and that the token's user may see them",
        );
    }
    if code == "PERMISSION_DENIED" {
        return ConnectorError::new(
            Fault::Permission,
            format!("the user lacks a privilege: {message}"),
            "grant USE CATALOG and USE SCHEMA",
        );
    }
    ConnectorError::new(
        Fault::Protocol,
        format!("the statement ended {state}: {code} {message}"),
        "see the query history of the warehouse",
    )
}

pub async fn connect(
    cfg: &DatabricksConfig,
    net: &Net,
) -> Result<DatabricksSession, ConnectorError> {
    let base = match &cfg.endpoint {
        Some(e) => format!("{}/", e.trim_end_matches('/')),
        None => format!("https://{}/", cfg.host),
    };
    let client = net.http()?;
    let token = match (&cfg.access_token, &cfg.client_id, &cfg.client_secret) {
        (Some(token), _, _) => token.clone(),
        (None, Some(id), Some(secret)) => {
            // OAuth machine-to-machine: the workspace's token endpoint, the client's
            // id and secret as HTTP Basic credentials (Databricks' documented form).
            oauth::token(
                &client,
                &format!("{base}oidc/v1/token"),
                &[("grant_type", "client_credentials"), ("scope", "all-apis")],
                Some((id, secret.expose_secret())),
                &oauth::Wording {
                    refused: "the workspace refused the service principal's client id and secret",
                    refused_hint: "check clientId and clientSecret, and that the service principal has an OAuth secret in this workspace",
                    endpoint: "the workspace's token endpoint (/oidc/v1/token)",
                    endpoint_hint: "check the host: OAuth needs the workspace's own URL",
                },
            )
            .await?
        }
        _ => unreachable!("validation requires a token or a client id and secret"),
    };
    let session = DatabricksSession {
        client,
        base,
        cfg: cfg.clone(),
        token,
    };
    // Proves the token, the warehouse and the catalog.
    session
        .query(&info_schema::schemata_probe(&ident(&cfg.catalog)))
        .await?;
    Ok(session)
}
