//! BigQuery over its REST API: an OAuth token for the service account (a JWT
//! grant signed with its key), datasets listed and kept to the configured
//! location, then one TABLES and one COLUMNS query per batch of datasets (never
//! per table) through `jobs.query`, following `pageToken` and polling while the
//! job runs. Nested STRUCT and ARRAY columns are flattened into paths.

pub mod types;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::connectors::Net;
use crate::connectors::fields::{FieldSpec, NAME, text, url};
use crate::connectors::support::info_schema::{self, Layout};
use crate::connectors::support::{oauth, rsa_jwt};
use crate::connectors::{ConnectorError, Fault, FieldProblem};
use crate::egress::http::GuardedClient;
use crate::snapshot::{Database, Snapshot, TypeFamily};

pub const FIELDS: &[FieldSpec] = &[
    NAME,
    text(
        "projectId",
        128,
        "the Google Cloud project whose datasets are discovered",
    )
    .required(),
    text(
        "serviceAccount",
        16384,
        "the service account's JSON key file, as text",
    )
    .required()
    .secret(),
    text(
        "location",
        64,
        "where the datasets live: US, EU or a region such as europe-west2",
    )
    .or("\"US\""),
    text("dataset", 1024, "limit discovery to this dataset"),
    url(
        "apiEndpoint",
        "the BigQuery API (a proxy or a compatible server)",
    )
    .or("\"https://bigquery.googleapis.com\""),
];

/// Datasets per INFORMATION_SCHEMA query: keeps the SQL far below the query size limit.
const DATASETS_PER_QUERY: usize = 200;
const SCOPE: &str = "https://www.googleapis.com/auth/bigquery.readonly";
const DEFAULT_TOKEN_URI: &str = "https://oauth2.googleapis.com/token";

#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BigqueryConfig {
    pub project_id: String,
    pub service_account: SecretString,
    pub location: String,
    pub dataset: Option<String>,
    pub api_endpoint: String,
}

/// The parts of a service-account key file onramp uses.
#[derive(Deserialize)]
struct KeyFile {
    #[serde(rename = "type")]
    kind: Option<String>,
    client_email: Option<String>,
    private_key: Option<String>,
    token_uri: Option<String>,
}

impl BigqueryConfig {
    pub fn check(&self) -> Result<(), Vec<FieldProblem>> {
        let mut problems = Vec::new();
        let field = "credentials.serviceAccount";
        match serde_json::from_str::<KeyFile>(self.service_account.expose_secret()) {
            Err(_) => problems.push(FieldProblem::new(
                field,
                "must be the JSON key file of a service account",
            )),
            Ok(key) => {
                if key.kind.as_deref() != Some("service_account") {
                    problems.push(FieldProblem::new(field, "type must be \"service_account\""));
                }
                if !key.client_email.as_deref().is_some_and(|e| e.contains('@')) {
                    problems.push(FieldProblem::new(
                        field,
                        "client_email must be the service account's email",
                    ));
                }
                match key.private_key.as_deref().map(rsa_jwt::parse_key) {
                    None => problems.push(FieldProblem::new(field, "private_key is missing")),
                    Some(Err(p)) => problems.push(FieldProblem::new(
                        field,
                        format!("private_key {}", p.describe()),
                    )),
                    Some(Ok(_)) => {}
                }
            }
        }
        let loc = &self.location;
        let multi_region = loc.eq_ignore_ascii_case("US") || loc.eq_ignore_ascii_case("EU");
        let region = loc
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
        if !multi_region && !region {
            problems.push(FieldProblem::new(
                "credentials.location",
                "must be US, EU or a region name such as us-central1",
            ));
        }
        let valid_project = self.project_id.len() >= 4
            && self.project_id.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b':' || b == b'.'
            });
        if !valid_project {
            problems.push(FieldProblem::new(
                "credentials.projectId",
                "must be a project ID: lower-case letters, digits and hyphens",
            ));
        }
        // BigQuery's own rule for dataset names; anything else could only be an attempt
        // to end the quoted name early.
        if let Some(dataset) = &self.dataset
            && !dataset
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
        {
            problems.push(FieldProblem::new(
                "credentials.dataset",
                "must be a dataset name: letters, digits and underscores",
            ));
        }
        crate::connectors::FieldProblem::none_or(problems)
    }
}

pub struct BigquerySession {
    client: GuardedClient,
    base: String,
    token: SecretString,
    project: String,
    location: String,
}

fn short(text: &str) -> String {
    text.chars().take(300).collect()
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

use crate::connectors::support::quote::bigquery::ident as quote;

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

pub async fn discover(
    s: &BigquerySession,
    cfg: &BigqueryConfig,
) -> Result<Snapshot, ConnectorError> {
    let started = Instant::now();
    let datasets = match &cfg.dataset {
        Some(d) => vec![d.clone()],
        None => s.datasets().await?,
    };
    let mut tables = Vec::new();
    let mut columns = Vec::new();
    for batch in datasets.chunks(DATASETS_PER_QUERY) {
        let union = |select: &str, view: &str| -> String {
            batch
                .iter()
                .map(|d| {
                    // `project.dataset` in one pair of backquotes, as the documentation writes it.
                    let path = quote(&format!("{}.{d}", cfg.project_id));
                    format!("SELECT {select} FROM {path}.INFORMATION_SCHEMA.{view}")
                })
                .collect::<Vec<_>>()
                .join(" UNION ALL ")
        };
        let tables_sql = union(
            "table_schema, table_name, table_type, CAST(NULL AS STRING) AS c",
            "TABLES",
        );
        let columns_sql = union(
            "table_schema, table_name, column_name, ordinal_position, data_type, is_nullable",
            "COLUMNS",
        );
        let (t, c) = tokio::try_join!(s.query(&tables_sql), s.query(&columns_sql))?;
        tables.extend(t);
        columns.extend(flatten_columns(c));
    }
    let schemas = info_schema::schemas(
        &tables,
        &columns,
        &Layout {
            first_ordinal: 1,
            family: nested_family,
        },
    );
    Ok(Snapshot::new(
        "bigquery",
        vec![Database {
            name: cfg.project_id.clone(),
            schemas,
        }],
        started,
    ))
}

/// The family of a (possibly nested) type text.
fn nested_family(text: &str) -> TypeFamily {
    types::parse(text)
        .map(|t| t.family())
        .unwrap_or(TypeFamily::Other)
}

/// Column rows with STRUCT fields expanded into path rows, renumbered in order.
fn flatten_columns(rows: Vec<Vec<Value>>) -> Vec<Vec<Value>> {
    let mut by_table: BTreeMap<(String, String), Vec<Vec<Value>>> = BTreeMap::new();
    for row in rows {
        let key = (
            row.first()
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string(),
            row.get(1).and_then(Value::as_str).unwrap_or("").to_string(),
        );
        by_table.entry(key).or_default().push(row);
    }
    let mut out = Vec::new();
    for (_, mut rows) in by_table {
        let ordinal = |r: &Vec<Value>| {
            r.get(3)
                .and_then(|v| {
                    v.as_str()
                        .and_then(|s| s.parse::<u64>().ok())
                        .or(v.as_u64())
                })
                .unwrap_or(0)
        };
        rows.sort_by_key(ordinal);
        let mut next = 1u64;
        for row in rows {
            let text = |i: usize| row.get(i).and_then(Value::as_str).unwrap_or("").to_string();
            let nullable = text(5) != "NO";
            for (path, ty, _, path_nullable) in types::flatten(&text(2), &text(4), nullable) {
                out.push(vec![
                    row.first().cloned().unwrap_or_default(),
                    row.get(1).cloned().unwrap_or_default(),
                    json!(path),
                    json!(next),
                    json!(ty),
                    json!(if path_nullable { "YES" } else { "NO" }),
                ]);
                next += 1;
            }
        }
    }
    out
}

pub async fn list_databases(s: &BigquerySession) -> Result<Vec<String>, ConnectorError> {
    Ok(vec![s.project.clone()])
}

crate::connector! {
    /// One project is one database; tenants split by dataset are schemas.
    Bigquery {
        config: BigqueryConfig,
        session: BigquerySession,
        fields: FIELDS,
        tenancy: &[crate::connectors::tenancy::Level::Table],
        check: BigqueryConfig::check,
        connect: connect,
        discover: discover,
        list_databases: list_databases,
    }
}
