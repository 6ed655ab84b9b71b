//! The session: the OAuth token, the system engine's URL, `USE DATABASE` and `USE
//! ENGINE` (following the answers' session headers), SQL over HTTP, and the mapping
//! of Firebolt's errors into connector errors.

use crate::connectors::support::limits::short;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::config::FireboltConfig;
use crate::connectors::Net;
use crate::connectors::support::oauth;
use crate::connectors::{ConnectorError, Fault};
use crate::egress::http::GuardedClient;

/// Firebolt's documented audience for client-credentials tokens.
const AUDIENCE: &str = "https://api.firebolt.io";
/// The protocol version the session speaks; it decides the error body shape.
const PROTOCOL_VERSION: &str = "2.1";

pub struct FireboltSession {
    client: GuardedClient,
    token: SecretString,
    /// The engine queries go to, and the parameters the server asked us to send.
    engine_url: String,
    parameters: Vec<(String, String)>,
}

use crate::connectors::support::quote::firebolt::ident;

/// Engine URLs come without a scheme; Firebolt's clients assume https.
fn canonical(url: &str) -> String {
    if url.starts_with("https://") || url.starts_with("http://") {
        url.to_string()
    } else {
        format!("https://{url}")
    }
}

async fn token(
    client: &GuardedClient,
    cfg: &FireboltConfig,
) -> Result<SecretString, ConnectorError> {
    let url = format!("{}/oauth/token", cfg.auth_endpoint.trim_end_matches('/'));
    let form = [
        ("grant_type", "client_credentials"),
        ("client_id", cfg.client_id.as_str()),
        ("client_secret", cfg.client_secret.expose_secret()),
        ("audience", AUDIENCE),
    ];
    oauth::token(
        client,
        &url,
        &form,
        None,
        &oauth::Wording {
            refused: "the client ID or secret was refused",
            refused_hint: "check the service account's client ID and secret, and that the account is active",
            endpoint: "the identity service",
            endpoint_hint: "check the auth endpoint",
        },
    )
    .await
}

impl FireboltSession {
    /// Runs one statement and follows the session headers of its answer.
    pub async fn query(&mut self, sql: &str) -> Result<Vec<Vec<Value>>, ConnectorError> {
        let mut params = self.parameters.clone();
        params.push(("output_format".into(), "JSON_Compact".into()));
        let request = self
            .client
            .request(reqwest::Method::POST, &self.engine_url)?
            .query(&params)
            .bearer_auth(self.token.expose_secret())
            .header("Firebolt-Protocol-Version", PROTOCOL_VERSION)
            .body(sql.to_string());
        let response = self.client.send(request).await?;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let text = self.client.read_text(response).await?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        let errors = body["errors"].as_array().filter(|e| !e.is_empty());
        if !(200..300).contains(&status) || errors.is_some() {
            let message = errors
                .map(|e| {
                    e.iter()
                        .filter_map(|x| x["description"].as_str())
                        .collect::<Vec<_>>()
                        .join("; ")
                })
                .or_else(|| body["message"].as_str().map(str::to_string))
                .unwrap_or_else(|| text.trim().to_string());
            return Err(query_error(status, &short(&message)));
        }
        self.follow(&headers)?;
        Ok(body["data"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|row| row.as_array().cloned().unwrap_or_default())
            .collect())
    }

    /// `USE ENGINE` answers with the engine's URL (and its parameters), `USE
    /// DATABASE` with the parameter to send from now on.
    fn follow(&mut self, headers: &reqwest::header::HeaderMap) -> Result<(), ConnectorError> {
        let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
        if let Some(update) = header("firebolt-update-parameters") {
            for pair in update.split(',') {
                if let Some((k, v)) = pair.split_once('=') {
                    self.set(k.trim(), v.trim());
                }
            }
        }
        if let Some(endpoint) = header("firebolt-update-endpoint") {
            let parsed = reqwest::Url::parse(&canonical(endpoint)).map_err(|e| {
                ConnectorError::new(
                    Fault::Protocol,
                    format!("the engine's address is not a URL: {e}"),
                    "check the engine name",
                )
            })?;
            for (k, v) in parsed.query_pairs() {
                self.set(&k, &v);
            }
            let mut base = parsed.clone();
            base.set_query(None);
            self.engine_url = base.to_string();
        }
        Ok(())
    }

    fn set(&mut self, key: &str, value: &str) {
        self.parameters.retain(|(k, _)| k != key);
        self.parameters.push((key.to_string(), value.to_string()));
    }
}

fn query_error(status: u16, message: &str) -> ConnectorError {
    let lower = message.to_ascii_lowercase();
    // Firebolt words a missing object and a hidden one alike: "does not exist or not authorized".
    if lower.contains("does not exist") || lower.contains("not found") {
        return ConnectorError::new(
            Fault::UnknownDatabase,
            format!("the database or engine was not found: {message}"),
            "check the database and engine names, and that the service account may see them",
        );
    }
    if status == 401
        || status == 403
        || lower.contains("permission")
        || lower.contains("not authorized")
    {
        return ConnectorError::new(
            Fault::Permission,
            format!("the service account lacks a privilege: {message}"),
            "grant the account's role USAGE on the database and the engine",
        );
    }
    ConnectorError::new(
        Fault::Protocol,
        format!("the query failed with http {status}: {message}"),
        "see the engine's query history",
    )
}

pub async fn connect(cfg: &FireboltConfig, net: &Net) -> Result<FireboltSession, ConnectorError> {
    let client = net.http()?;
    let token = token(&client, cfg).await?;
    let url = format!(
        "{}/web/v3/account/{}/engineUrl",
        cfg.api_endpoint.trim_end_matches('/'),
        urlencode(&cfg.account)
    );
    let response = client
        .send(
            client
                .request(reqwest::Method::GET, &url)?
                .bearer_auth(token.expose_secret()),
        )
        .await?;
    let status = response.status().as_u16();
    let body: Value = client.read_json(response).await?;
    let Some(system) = body["engineUrl"].as_str().filter(|_| status == 200) else {
        let why = body["message"]
            .as_str()
            .or(body["error"].as_str())
            .unwrap_or("");
        return Err(match status {
            401 | 403 | 404 => ConnectorError::new(
                Fault::UnknownDatabase,
                format!(
                    "account {} was not found or the service account may not use it: {}",
                    cfg.account,
                    short(why)
                ),
                "check the account name, and that the service account is a user in it",
            ),
            _ => ConnectorError::new(
                Fault::Protocol,
                format!(
                    "the engine URL lookup answered http {status}: {}",
                    short(why)
                ),
                "check the api endpoint",
            ),
        });
    };
    let mut session = FireboltSession {
        client,
        token,
        engine_url: canonical(system),
        parameters: Vec::new(),
    };
    session
        .query(&format!("USE DATABASE {}", ident(&cfg.database)))
        .await?;
    session
        .query(&format!("USE ENGINE {}", ident(&cfg.engine)))
        .await?;
    session.query("SELECT 1").await?;
    Ok(session)
}

fn urlencode(segment: &str) -> String {
    url::form_urlencoded::byte_serialize(segment.as_bytes()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn engine_urls_without_a_scheme_are_https() {
        assert_eq!(
            canonical("acct-eng.app.firebolt.io"),
            "https://acct-eng.app.firebolt.io"
        );
        assert_eq!(canonical("http://127.0.0.1:1/x"), "http://127.0.0.1:1/x");
    }
}
