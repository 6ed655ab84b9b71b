//! The session: queries over ClickHouse's HTTP interface, and the mapping of its
//! errors into connector errors.

use secrecy::ExposeSecret;
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::config::ClickhouseConfig;
use crate::connectors::Net;
use crate::connectors::{ConnectorError, Fault};
use crate::egress::http::GuardedClient;
use crate::egress::tls::SslMode;

/// A checked HTTP client and where to send queries.
pub struct ChSession {
    client: GuardedClient,
    url: String,
    cfg: ClickhouseConfig,
    pub version: String,
}

impl ChSession {
    /// Runs `sql` and parses each JSONEachRow line as `T`.
    pub async fn rows<T: DeserializeOwned>(&self, sql: &str) -> Result<Vec<T>, ConnectorError> {
        let request = self
            .client
            .request(reqwest::Method::POST, &self.url)?
            .basic_auth(&self.cfg.username, Some(self.cfg.password.expose_secret()))
            .query(&[("database", self.cfg.database.as_str())])
            .body(format!("{sql} FORMAT JSONEachRow"));
        let response = self
            .client
            .send(request)
            .await
            .map_err(|e| tls_hint(e, &self.cfg))?;
        let status = response.status();
        let body = if status.is_success() {
            self.client.read_text(response).await?
        } else {
            self.client.read_error_text(response).await
        };
        if !status.is_success() {
            return Err(server_error(status.as_u16(), &body, &self.cfg));
        }
        body.lines()
            .filter(|l| !l.trim().is_empty())
            .map(|l| {
                serde_json::from_str(l).map_err(|e| {
                    ConnectorError::new(
                        Fault::Protocol,
                        format!("unexpected answer from clickhouse: {e}"),
                        "check that the port belongs to ClickHouse's HTTP interface",
                    )
                })
            })
            .collect()
    }
}

pub async fn connect(cfg: &ClickhouseConfig, net: &Net) -> Result<ChSession, ConnectorError> {
    let mode = cfg.mode();
    let (client, scheme) = match mode {
        SslMode::Disable => (net.http()?, "http"),
        mode => (net.http_tls(&cfg.tls.policy(mode))?, "https"),
    };
    let host = if cfg.host.contains(':') && !cfg.host.starts_with('[') {
        format!("[{}]", cfg.host)
    } else {
        cfg.host.clone()
    };
    let mut session = ChSession {
        client,
        url: format!("{scheme}://{host}:{}/", cfg.port),
        cfg: cfg.clone(),
        version: String::new(),
    };
    #[derive(Deserialize)]
    struct Version {
        v: String,
    }
    // Proves the address, the credentials and the database in one round trip.
    let found: Vec<Version> = session.rows("SELECT version() AS v").await?;
    session.version = found.into_iter().next().map(|v| v.v).unwrap_or_default();
    Ok(session)
}

/// A TLS failure gets the port hint that usually fixes it, unless the server did
/// present a certificate (then the port was right, and the certificate is the news).
fn tls_hint(e: ConnectorError, cfg: &ClickhouseConfig) -> ConnectorError {
    if e.fault == Fault::Tls && !e.message.contains("the server presented") {
        return ConnectorError::new(
            Fault::Tls,
            format!("tls with {}:{} failed: {}", cfg.host, cfg.port, e.message),
            "ClickHouse serves HTTPS on 8443 and plain HTTP on 8123: match ssl and port",
        );
    }
    e
}

/// ClickHouse answers errors as `Code: N, e.displayText() = DB::Exception: ...`.
fn server_error(status: u16, body: &str, cfg: &ClickhouseConfig) -> ConnectorError {
    let code: Option<u32> = body
        .strip_prefix("Code: ")
        .and_then(|rest| rest.split(|c: char| !c.is_ascii_digit()).next())
        .and_then(|n| n.parse().ok());
    let text = body
        .split("DB::Exception: ")
        .nth(1)
        .unwrap_or(body)
        .split(", e.what()")
        .next()
        .unwrap_or(body)
        .trim()
        .chars()
        .take(300)
        .collect::<String>();
    match code {
        Some(192 | 193 | 194 | 516) => ConnectorError::new(
            Fault::Authentication,
            format!("login as {} was refused: {text}", cfg.username),
            "check the username and password, and the networks the user may connect from",
        ),
        Some(81) => ConnectorError::new(
            Fault::UnknownDatabase,
            format!("database {} does not exist", cfg.database),
            "check the database name: it is case-sensitive",
        ),
        Some(497 | 164) => ConnectorError::new(
            Fault::Permission,
            format!("the user lacks a privilege: {text}"),
            "grant the user SHOW and SELECT on the database and its system tables",
        ),
        _ => ConnectorError::new(
            Fault::Protocol,
            format!("clickhouse answered http {status}: {text}"),
            "check that the port belongs to ClickHouse's HTTP interface",
        ),
    }
}
