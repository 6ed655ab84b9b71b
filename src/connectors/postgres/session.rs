//! Connecting: the session, tokio-postgres over our own checked socket (rustls for
//! TLS), and the mapping of driver errors into connector errors.

use secrecy::ExposeSecret;
use tokio_postgres::error::SqlState;
use tokio_postgres::tls::MakeTlsConnect;

use super::config::{PostgresConfig, SslMode};
use crate::connectors::Net;
use crate::connectors::net::TargetStream;
use crate::connectors::{ConnectorError, Fault};
use crate::egress::tls;

/// A logged-in client; the connection task ends when the client is dropped.
pub struct PgSession {
    pub client: tokio_postgres::Client,
    pub database: String,
}

pub async fn connect(cfg: &PostgresConfig, net: &Net) -> Result<PgSession, ConnectorError> {
    let mut pg = tokio_postgres::Config::new();
    pg.host(&cfg.host)
        .port(cfg.port)
        .user(&cfg.username)
        .password(cfg.password.expose_secret())
        .dbname(&cfg.database)
        .application_name("onramp")
        .ssl_mode(match cfg.ssl_mode {
            SslMode::Disable => tokio_postgres::config::SslMode::Disable,
            SslMode::Prefer => tokio_postgres::config::SslMode::Prefer,
            // The driver asks for TLS; what is checked is our verifier's.
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => {
                tokio_postgres::config::SslMode::Require
            }
        });
    // Our own checked socket: the driver never resolves or connects by itself.
    let stream = net.tcp(&cfg.host, cfg.port).await?;
    let client = match cfg.ssl_mode {
        SslMode::Disable => finish(
            pg.connect_raw(stream, tokio_postgres::NoTls).await,
            cfg,
            None,
        )?,
        mode => {
            let (config, presented) = cfg.tls.policy(mode).client_config()?;
            let mut make = tokio_postgres_rustls::MakeRustlsConnect::new(config);
            let connector =
                <_ as MakeTlsConnect<TargetStream>>::make_tls_connect(&mut make, &cfg.host)
                    .map_err(|e| {
                        ConnectorError::new(
                            Fault::Tls,
                            format!("tls setup for {} failed: {e}", cfg.host),
                            "give a host name or an IP address the certificate can name",
                        )
                    })?;
            finish(
                pg.connect_raw(stream, connector).await,
                cfg,
                Some(&presented),
            )?
        }
    };
    Ok(PgSession {
        client,
        database: cfg.database.clone(),
    })
}

fn finish<S, T>(
    result: Result<
        (tokio_postgres::Client, tokio_postgres::Connection<S, T>),
        tokio_postgres::Error,
    >,
    cfg: &PostgresConfig,
    presented: Option<&tls::Presented>,
) -> Result<tokio_postgres::Client, ConnectorError>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
    T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let (client, connection) = result.map_err(|e| {
        let shown = presented.and_then(tls::Presented::get);
        map_error(&e, cfg, shown.as_deref())
    })?;
    tokio::spawn(async move {
        if let Err(e) = connection.await {
            tracing::debug!(error = %e, "postgres target connection closed");
        }
    });
    Ok(client)
}

/// Turns a driver error into a precise, secret-free message and a hint.
pub fn map_error(
    e: &tokio_postgres::Error,
    cfg: &PostgresConfig,
    presented: Option<&[u8]>,
) -> ConnectorError {
    if let Some(db) = e.as_db_error() {
        let code = db.code();
        let (fault, hint) = if *code == SqlState::INVALID_PASSWORD
            || *code == SqlState::INVALID_AUTHORIZATION_SPECIFICATION
        {
            (
                Fault::Authentication,
                "check the username and password, and that pg_hba.conf lets this user in from onramp's workers",
            )
        } else if *code == SqlState::INVALID_CATALOG_NAME {
            (
                Fault::UnknownDatabase,
                "check the database name: it is case-sensitive",
            )
        } else if *code == SqlState::TOO_MANY_CONNECTIONS
            || *code == SqlState::CANNOT_CONNECT_NOW
            || *code == SqlState::CONFIGURATION_LIMIT_EXCEEDED
        {
            (Fault::Busy, ConnectorError::BUSY_HINT)
        } else if *code == SqlState::INSUFFICIENT_PRIVILEGE {
            (
                Fault::Permission,
                "grant the user CONNECT on the database and USAGE on its schemas",
            )
        } else {
            (Fault::Protocol, "see the server's log for this error")
        };
        let what = match fault {
            Fault::Authentication => format!("login as {} was refused", cfg.username),
            Fault::UnknownDatabase => format!("database {} does not exist", cfg.database),
            _ => "the server refused the request".to_string(),
        };
        // pg_hba's `cert` method refuses a login without (or with the wrong) client
        // certificate with an authorization error of its own words.
        if db.message().contains("client certificate") {
            return ConnectorError::new(
                Fault::Tls,
                format!(
                    "the server refused the client certificate: {}",
                    db.message()
                ),
                "give a clientCertificate and clientKey the server's CA issued, for this user (its CN)",
            );
        }
        return ConnectorError::new(fault, format!("{what}: {}", db.message()), hint);
    }
    if let Some(tls) = tls::find_rustls_error(e) {
        return tls::tls_failure(&cfg.host, tls, presented);
    }
    // The driver's top line says only "error performing TLS handshake"; why is in
    // its sources.
    let mut text = e.to_string();
    let mut source = std::error::Error::source(e);
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    if text.contains("does not support TLS") {
        return ConnectorError::new(
            Fault::Tls,
            format!(
                "tls negotiation with {} failed: the server does not support TLS",
                cfg.host
            ),
            "the server offers no TLS: set sslMode to prefer or disable, or enable ssl on the server",
        );
    }
    if text.contains("TLS") {
        return ConnectorError::new(
            Fault::Tls,
            format!("tls negotiation with {} failed: {text}", cfg.host),
            "check that the server speaks TLS on this port, or set sslMode to disable",
        );
    }
    ConnectorError::new(
        Fault::Protocol,
        format!("connection to {}:{} failed: {text}", cfg.host, cfg.port),
        "check that the port belongs to a PostgreSQL server",
    )
}

pub(crate) fn query_error(e: tokio_postgres::Error, what: &str) -> ConnectorError {
    let permission = e.code() == Some(&SqlState::INSUFFICIENT_PRIVILEGE);
    ConnectorError::new(
        if permission {
            Fault::Permission
        } else {
            Fault::Protocol
        },
        format!(
            "{what} failed: {}",
            e.as_db_error()
                .map(|d| d.message().to_string())
                .unwrap_or_else(|| e.to_string())
        ),
        if permission {
            "grant the user USAGE on the schemas to discover"
        } else {
            "see the server's log for this error"
        },
    )
}
