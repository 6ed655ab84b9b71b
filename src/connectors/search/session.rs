//! The session: authenticated GETs on the REST API, the mapping of the cluster's
//! errors into connector errors, and the connection test (the root's version).

use secrecy::ExposeSecret;
use serde_json::Value;

use super::config::SearchConfig;
use crate::connectors::Net;
use crate::connectors::{ConnectorError, Fault};
use crate::egress::http::GuardedClient;

pub struct SearchSession {
    client: GuardedClient,
    base: String,
    cfg: SearchConfig,
    pub distribution: String,
    pub version: String,
}

impl SearchSession {
    pub(super) async fn get(&self, path: &str) -> Result<Value, ConnectorError> {
        let mut request = self
            .client
            .request(reqwest::Method::GET, &format!("{}{path}", self.base))?;
        if let Some(key) = &self.cfg.api_key {
            request = request.header("authorization", format!("ApiKey {}", key.expose_secret()));
        } else if let Some(user) = &self.cfg.username {
            request =
                request.basic_auth(user, self.cfg.password.as_ref().map(|p| p.expose_secret()));
        }
        let response = self.client.send(request).await?;
        let status = response.status().as_u16();
        let body: Value = self.client.read_json(response).await?;
        if (200..300).contains(&status) {
            return Ok(body);
        }
        let reason = body["error"]["reason"]
            .as_str()
            .or(body["error"].as_str())
            .unwrap_or("")
            .to_string();
        Err(match status {
            401 => ConnectorError::new(
                Fault::Authentication,
                format!("the cluster refused the credentials: {reason}"),
                "check the user and password, or the API key",
            ),
            403 => ConnectorError::new(
                Fault::Permission,
                format!("the user lacks a privilege: {reason}"),
                "grant monitor and view_index_metadata on the indices to discover",
            ),
            _ => ConnectorError::new(
                Fault::Protocol,
                format!("{path} answered http {status}: {reason}"),
                "check that the URL points at an Elasticsearch or OpenSearch cluster",
            ),
        })
    }
}

pub async fn connect(cfg: &SearchConfig, net: &Net) -> Result<SearchSession, ConnectorError> {
    let mut session = SearchSession {
        client: match cfg.mode() {
            crate::egress::tls::SslMode::Disable => net.http()?,
            mode => net.http_tls(&cfg.tls.policy(mode))?,
        },
        base: cfg.base_url(),
        cfg: cfg.clone(),
        distribution: String::new(),
        version: String::new(),
    };
    let root = session.get("").await?;
    let Some(version) = root["version"]["number"].as_str() else {
        return Err(ConnectorError::new(
            Fault::Protocol,
            "the answer is not an Elasticsearch or OpenSearch cluster's",
            "check the URL",
        ));
    };
    session.version = version.to_string();
    session.distribution = root["version"]["distribution"]
        .as_str()
        .unwrap_or("elasticsearch")
        .to_string();
    Ok(session)
}
