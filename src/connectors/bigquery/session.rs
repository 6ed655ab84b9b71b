//! The session: an OAuth token for the service account, the REST calls (with the
//! pause and retry on rate limits), `jobs.query` to completion, and the mapping of
//! Google API errors into connector errors.

use crate::connectors::support::limits::short;
use std::time::Duration;

use secrecy::{ExposeSecret, SecretString};
use serde_json::{Value, json};

use super::config::{BigqueryConfig, KeyFile};
use crate::connectors::Net;
use crate::connectors::support::{oauth, rsa_jwt};
use crate::connectors::{ConnectorError, Fault};
use crate::egress::http::GuardedClient;

const SCOPE: &str = "https://www.googleapis.com/auth/bigquery.readonly";
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

pub struct BigquerySession {
    client: GuardedClient,
    base: String,
    token: SecretString,
    pub(super) project: String,
    location: String,
}

async fn access_token(
    client: &GuardedClient,
    cfg: &BigqueryConfig,
) -> Result<SecretString, ConnectorError> {
    let key: KeyFile =
        serde_json::from_str(cfg.service_account.expose_secret()).expect("checked at validation");
    let pem = key.private_key.expect("checked at validation");
    let signer = rsa_jwt::parse_key(&pem).expect("checked at validation");
    let token_uri = key
        .token_uri
        .unwrap_or_else(|| DEFAULT_TOKEN_URI.to_string());
    let now = chrono::Utc::now().timestamp();
    let assertion = rsa_jwt::sign(
        &signer,
        &json!({"iss": key.client_email, "scope": SCOPE, "aud": token_uri, "iat": now, "exp": now + 3600}),
    );
    let form = [
        ("grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"),
        ("assertion", assertion.as_str()),
    ];
    oauth::token(
        client,
        &token_uri,
        &form,
        None,
        &oauth::Wording {
            refused: "the service account key was refused",
            refused_hint: "check that the key file is current and the service account is enabled",
            endpoint: "the token endpoint",
            endpoint_hint: "check token_uri in the key file",
        },
    )
    .await
}

/// A Google API error body: `{"error": {"code", "message", "errors": [{"reason"}]}}`.
fn api_error(status: u16, body: &Value, project: &str) -> ConnectorError {
    let message = short(body["error"]["message"].as_str().unwrap_or("no message"));
    let reason = body["error"]["errors"][0]["reason"].as_str().unwrap_or("");
    match (status, reason) {
        // BigQuery's rate limits answer 403 (or 429) with these reasons: a busy
        // server, asked again, not a missing permission.
        (_, "rateLimitExceeded" | "userRateLimitExceeded") => ConnectorError::new(
            Fault::Busy,
            format!("bigquery's rate limit: {message}"),
            ConnectorError::BUSY_HINT,
        ),
        (401, _) => ConnectorError::new(
            Fault::Authentication,
            format!("bigquery refused the token: {message}"),
            "check the service account key",
        ),
        (403, _) | (_, "accessDenied") => ConnectorError::new(
            Fault::Permission,
            format!("the service account lacks a permission: {message}"),
            "grant it roles/bigquery.metadataViewer and roles/bigquery.jobUser on the project",
        ),
        (404, _) | (_, "notFound") => ConnectorError::new(
            Fault::UnknownDatabase,
            format!("project {project} or a dataset was not found: {message}"),
            "check the project ID and location",
        ),
        _ => ConnectorError::new(
            Fault::Protocol,
            format!("bigquery answered http {status} ({reason}): {message}"),
            "see the job history in the console",
        ),
    }
}

impl BigquerySession {
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        query: &[(&str, String)],
        body: Option<Value>,
    ) -> Result<Value, ConnectorError> {
        let mut request = self
            .client
            .request(
                method,
                &format!("{}/bigquery/v2/projects/{}/{path}", self.base, self.project),
            )?
            .query(query)
            .bearer_auth(self.token.expose_secret());
        if let Some(b) = body {
            request = request.json(&b);
        }
        // A rate-limited call is asked again after a growing pause, within the step.
        let mut pause = std::time::Duration::from_millis(500);
        let mut tries = 0;
        loop {
            let again = request.try_clone();
            let response = self.client.send(request).await?;
            let status = response.status().as_u16();
            let value: Value = self.client.read_json(response).await?;
            if (200..300).contains(&status) {
                return Ok(value);
            }
            let error = api_error(status, &value, &self.project);
            match again {
                Some(again)
                    if error.fault == Fault::Busy
                        && tries < crate::egress::http::BUSY_RETRIES
                        && crate::egress::http::busy_wait(pause, "rate_limit").await =>
                {
                    request = again;
                    pause = (pause * 2).min(std::time::Duration::from_secs(5));
                    tries += 1;
                }
                _ => return Err(error),
            }
        }
    }

    /// The datasets of the project that live in the configured location.
    pub async fn datasets(&self) -> Result<Vec<String>, ConnectorError> {
        let mut names = Vec::new();
        let mut page: Option<String> = None;
        let mut pages = crate::connectors::Pages::new("datasets.list");
        loop {
            pages.one_more()?;
            let mut query = vec![("maxResults", "1000".to_string())];
            if let Some(p) = &page {
                query.push(("pageToken", p.clone()));
            }
            let answer = self
                .call(reqwest::Method::GET, "datasets", &query, None)
                .await?;
            for d in answer["datasets"].as_array().into_iter().flatten() {
                let here = d["location"]
                    .as_str()
                    .is_some_and(|l| l.eq_ignore_ascii_case(&self.location));
                if let (true, Some(id)) = (here, d["datasetReference"]["datasetId"].as_str()) {
                    names.push(id.to_string());
                }
            }
            match answer["nextPageToken"].as_str() {
                Some(p) => page = Some(p.to_string()),
                None => return Ok(names),
            }
        }
    }

    /// Runs a GoogleSQL query to completion and returns every row's values.
    pub async fn query(&self, sql: &str) -> Result<Vec<Vec<Value>>, ConnectorError> {
        let mut answer = self
            .call(
                reqwest::Method::POST,
                "queries",
                &[],
                Some(
                    json!({"query": sql, "useLegacySql": false, "location": self.location,
                            "timeoutMs": 10_000, "maxResults": 10_000}),
                ),
            )
            .await?;
        let job = answer["jobReference"]["jobId"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut rows = Vec::new();
        let mut pause = Duration::from_millis(100);
        let mut pages = crate::connectors::Pages::new("the query's result pages");
        loop {
            pages.one_more()?;
            let complete = answer["jobComplete"].as_bool().unwrap_or(false);
            if complete {
                for row in answer["rows"].as_array().into_iter().flatten() {
                    rows.push(
                        row["f"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .map(|cell| cell["v"].clone())
                            .collect(),
                    );
                }
            }
            let page = answer["pageToken"].as_str().map(str::to_string);
            if complete && page.is_none() {
                return Ok(rows);
            }
            if !complete {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(2));
            }
            let mut query = vec![
                ("location", self.location.clone()),
                ("timeoutMs", "10000".into()),
                ("maxResults", "10000".into()),
            ];
            if let Some(p) = page {
                query.push(("pageToken", p));
            }
            answer = self
                .call(
                    reqwest::Method::GET,
                    &format!("queries/{job}"),
                    &query,
                    None,
                )
                .await?;
        }
    }
}

pub async fn connect(cfg: &BigqueryConfig, net: &Net) -> Result<BigquerySession, ConnectorError> {
    let client = net.http()?;
    let token = access_token(&client, cfg).await?;
    let session = BigquerySession {
        client,
        base: cfg.api_endpoint.trim_end_matches('/').to_string(),
        token,
        project: cfg.project_id.clone(),
        location: cfg.location.clone(),
    };
    // Proves the token and the project: one page of datasets.
    session
        .call(
            reqwest::Method::GET,
            "datasets",
            &[("maxResults", "1".into())],
            None,
        )
        .await?;
    Ok(session)
}
