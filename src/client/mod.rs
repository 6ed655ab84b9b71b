//! The command line for people, against a running API (`ONRAMP_API_URL`,
//! `ONRAMP_TOKEN`): create and watch jobs, read datasources and schemas, manage
//! webhooks. Exit codes: 0 success, 1 the target failed (the job's
//! `CREDENTIAL_TEST_FAILED`, `SCHEMA_CACHE_FAILED` or `EGRESS_DENIED`), 2 the
//! request was refused (bad input, unknown name, bad token) or the command line is
//! wrong, 3 onramp failed (unreachable, a 5xx, `INTERNAL_SERVER_ERROR`).

pub mod commands;
pub mod progress;

use std::io::IsTerminal;
use std::time::Duration;

use serde_json::Value;

pub const TARGET_FAILED: u8 = 1;
pub const REFUSED: u8 = 2;
pub const ONRAMP_FAILED: u8 = 3;

/// Why a command failed, and the exit code that says whose fault it was.
#[derive(Debug)]
pub struct Failure {
    pub exit: u8,
    pub message: String,
    pub hint: Option<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.message)?;
        if let Some(h) = &self.hint {
            write!(f, "\nhint: {h}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Failure {}

fn failure(exit: u8, message: impl Into<String>) -> Failure {
    Failure {
        exit,
        message: message.into(),
        hint: None,
    }
}

/// Where the API is and who is asking.
#[derive(Debug, Clone, clap::Args)]
pub struct Remote {
    /// The API's base URL.
    #[arg(
        long,
        env = "ONRAMP_API_URL",
        default_value = "http://127.0.0.1:8080",
        global = true
    )]
    pub api_url: String,
    /// A service token (`onramp token create`).
    #[arg(long, env = "ONRAMP_TOKEN", hide_env_values = true, global = true)]
    pub token: Option<String>,
}

pub struct Api {
    base: url::Url,
    token: String,
    http: reqwest::Client,
}

impl Api {
    pub fn new(remote: &Remote) -> Result<Api, Failure> {
        let base = url::Url::parse(&remote.api_url)
            .map_err(|e| failure(REFUSED, format!("--api-url is not a URL: {e}")))?;
        let token = remote
            .token
            .clone()
            .filter(|t| !t.is_empty())
            .ok_or_else(|| Failure {
                exit: REFUSED,
                message: "no token".into(),
                hint: Some(
                    "set ONRAMP_TOKEN or give --token (onramp token create --org NAME makes one)"
                        .into(),
                ),
            })?;
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| failure(ONRAMP_FAILED, format!("http client: {e}")))?;
        Ok(Api { base, token, http })
    }

    /// The URL of `segments` under the base (each one escaped), with `query`.
    pub fn url(&self, segments: &[&str], query: &[(&str, &str)]) -> url::Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        if !query.is_empty() {
            url.query_pairs_mut().extend_pairs(query);
        }
        url
    }

    pub fn request(&self, method: reqwest::Method, url: url::Url) -> reqwest::RequestBuilder {
        self.http.request(method, url).bearer_auth(&self.token)
    }

    /// Sends `request` (60 s at most) and reads a JSON answer; an error answer
    /// becomes a `Failure` with its message, fields and hint.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<Value, Failure> {
        let response = request
            .timeout(Duration::from_secs(60))
            .send()
            .await
            .map_err(unreachable)?;
        let status = response.status();
        let text = response
            .text()
            .await
            .map_err(|e| failure(ONRAMP_FAILED, format!("reading the answer: {e}")))?;
        let body: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if status.is_success() {
            return Ok(body);
        }
        Err(answer_failure(status.as_u16(), &body))
    }
}

fn unreachable(e: reqwest::Error) -> Failure {
    // Without the URL: it may carry a token in a query someone pasted.
    let what = if e.is_timeout() {
        "did not answer in time"
    } else if e.is_connect() {
        "could not be reached"
    } else {
        "failed"
    };
    Failure {
        exit: ONRAMP_FAILED,
        message: format!("the onramp API {what}"),
        hint: Some("check ONRAMP_API_URL and that `onramp serve` (or `onramp api`) runs".into()),
    }
}

/// An error answer: 4xx is the request's fault, anything else onramp's.
pub fn answer_failure(status: u16, body: &Value) -> Failure {
    let e = &body["error"];
    let mut message = format!(
        "{status} {}: {}",
        e["code"].as_str().unwrap_or("?"),
        progress_clean(e["message"].as_str().unwrap_or("no message"))
    );
    for d in e["details"].as_array().into_iter().flatten() {
        message.push_str(&format!(
            "\n  {}: {}",
            progress_clean(d["field"].as_str().unwrap_or("?")),
            progress_clean(d["problem"].as_str().unwrap_or("?"))
        ));
    }
    Failure {
        exit: if (400..500).contains(&status) {
            REFUSED
        } else {
            ONRAMP_FAILED
        },
        message,
        hint: e["hint"].as_str().map(progress_clean),
    }
}

fn progress_clean(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() && c != '\n' { ' ' } else { c })
        .take(2000)
        .collect()
}

/// The exit code of a job that ended: whose fault a failure was.
pub fn job_exit(job: &Value) -> Result<(), Failure> {
    if job["status"] == "succeeded" {
        return Ok(());
    }
    let code = job["error"]["code"].as_str().unwrap_or("");
    let exit = match code {
        "CREDENTIAL_TEST_FAILED" | "SCHEMA_CACHE_FAILED" | "EGRESS_DENIED" => TARGET_FAILED,
        _ => ONRAMP_FAILED,
    };
    Err(failure(exit, format!("the job failed with {code}")))
}

/// Follows a job until it ends (its event stream, reconnecting when the server
/// ends it), showing its steps; then says how it ended.
pub async fn watch(api: &Api, job_id: &str) -> Result<Value, Failure> {
    use futures::StreamExt;
    let stdout = std::io::stdout();
    let terminal = stdout.is_terminal();
    let mut shown = progress::Progress::new(stdout.lock(), terminal);
    let mut last: Option<Value> = None;
    loop {
        let url = api.url(&["api", "v2", "jobs", job_id, "events"], &[]);
        let response = api
            .request(reqwest::Method::GET, url)
            .send()
            .await
            .map_err(unreachable)?;
        if !response.status().is_success() {
            let status = response.status().as_u16();
            let body = response.json().await.unwrap_or(Value::Null);
            return Err(answer_failure(status, &body));
        }
        let mut body = response.bytes_stream();
        // Bytes until a whole event is in: a character split between two chunks
        // is decoded once it is whole.
        let mut buffer: Vec<u8> = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_millis(100));
        loop {
            tokio::select! {
                chunk = body.next() => {
                    let Some(Ok(chunk)) = chunk else { break };
                    buffer.extend_from_slice(&chunk);
                    if buffer.len() > 16 * 1024 * 1024 {
                        return Err(failure(ONRAMP_FAILED, "the job's event stream sent an event over 16 MiB"));
                    }
                    while let Some(end) = buffer.windows(2).position(|w| w == b"\n\n") {
                        let raw: Vec<u8> = buffer.drain(..end + 2).collect();
                        let block = String::from_utf8_lossy(&raw);
                        let data: String = block
                            .lines()
                            .filter_map(|l| l.strip_prefix("data:"))
                            .map(str::trim_start)
                            .collect();
                        if let Ok(job) = serde_json::from_str::<Value>(&data) {
                            shown.show(&job).map_err(|e| failure(ONRAMP_FAILED, e.to_string()))?;
                            last = Some(job);
                        }
                    }
                }
                _ = tick.tick(), if terminal => {
                    if let Some(job) = &last {
                        shown.show(job).map_err(|e| failure(ONRAMP_FAILED, e.to_string()))?;
                    }
                }
            }
        }
        if let Some(job) = last
            .as_ref()
            .filter(|j| matches!(j["status"].as_str(), Some("succeeded") | Some("failed")))
        {
            shown
                .finish(job)
                .map_err(|e| failure(ONRAMP_FAILED, e.to_string()))?;
            return Ok(job.clone());
        }
        // The server ended the stream before the job did (its time limit, a
        // restart): look again shortly.
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}
