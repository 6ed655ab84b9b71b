//! Connecting: the session, mysql_async on the addresses the guard checked, and
//! the mapping of driver errors into connector errors.

use mysql_async::prelude::Queryable;
use secrecy::ExposeSecret;

use super::config::MysqlConfig;
use crate::connectors::Net;
use crate::connectors::{ConnectorError, Fault};
use crate::egress::tls::{self, SslMode};

pub struct MySession {
    pub conn: mysql_async::Conn,
}

impl MySession {
    pub async fn close(self) {
        let _ = self.conn.disconnect().await;
    }
}

/// Connects through the guard; `read_only` makes the session read-only where the
/// server supports it (MySQL and MariaDB do; SingleStore has no such statement).
pub async fn connect(
    cfg: &MysqlConfig,
    net: &Net,
    read_only: bool,
) -> Result<MySession, ConnectorError> {
    let mode = cfg.mode();
    let mut tls = (mode != SslMode::Disable).then(|| super::tls::ssl_opts(cfg, mode));
    if mode == SslMode::VerifyCa
        && let Some(name) = super::tls::certificate_name(cfg, net).await
    {
        // The driver cannot check a chain without a name: it checks the name the
        // certificate itself holds, so that what is left is the chain (verify-ca).
        tls = tls.map(|t| t.with_danger_tls_hostname_override(Some(name)));
    }
    let mut opened = open(cfg, net, tls).await?;
    // prefer: TLS when the server offers it, plain when it does not (libpq's and
    // MySQL's PREFERRED).
    if mode == SslMode::Prefer
        && matches!(
            opened,
            Err(mysql_async::Error::Driver(
                mysql_async::DriverError::NoClientSslFlagFromServer
            ))
        )
    {
        opened = open(cfg, net, None).await?;
    }
    let mut conn = match opened {
        Ok(conn) => conn,
        Err(e) => match tls::find_rustls_error(&e) {
            Some(tls_error) => {
                let presented = super::tls::presented_certificate(cfg, net).await;
                return Err(tls::tls_failure(&cfg.host, tls_error, presented.as_deref()));
            }
            None => return Err(map_error(&e, cfg)),
        },
    };
    // Discovery never writes: make that a property of the session, not a promise.
    if read_only {
        conn.query_drop("SET SESSION TRANSACTION READ ONLY")
            .await
            .map_err(|e| map_error(&e, cfg))?;
    }
    // The connect step's last check: the schema to discover, when it is not the
    // database connected to, is one the account can see (MySQL shows in
    // information_schema only the databases it holds some privilege on).
    if let Some(schema) = cfg.schema.as_deref().filter(|s| *s != cfg.database) {
        let seen: Option<u64> = conn
            .exec_first(
                "SELECT COUNT(*) FROM information_schema.SCHEMATA WHERE SCHEMA_NAME = ?",
                (schema,),
            )
            .await
            .map_err(|e| map_error(&e, cfg))?;
        if seen.unwrap_or(0) == 0 {
            return Err(ConnectorError::new(
                Fault::UnknownDatabase,
                format!(
                    "schema {schema:?} does not exist or {} holds no privilege on it",
                    cfg.username
                ),
                "check the schema's name, or grant the user SELECT on it",
            ));
        }
    }
    Ok(MySession { conn })
}

/// One login attempt; the outer error is the guard's.
async fn open(
    cfg: &MysqlConfig,
    net: &Net,
    tls: Option<mysql_async::SslOpts>,
) -> Result<Result<mysql_async::Conn, mysql_async::Error>, ConnectorError> {
    // The driver connects only to the addresses the guard checked (through a
    // tunnel, to its loopback forward, on the forward's port); the host name stays
    // for TLS verification.
    let addrs = net.dial_addresses(&cfg.host, cfg.port).await?;
    let port = addrs.first().map_or(cfg.port, |a| a.port());
    let ips: Vec<std::net::IpAddr> = addrs.into_iter().map(|a| a.ip()).collect();
    let opts = mysql_async::OptsBuilder::default()
        .ip_or_hostname(cfg.host.clone())
        .tcp_port(port)
        .resolved_ips(Some(ips))
        .user(Some(cfg.username.clone()))
        .pass(Some(cfg.password.expose_secret().to_string()))
        .db_name(Some(cfg.database.clone()))
        .prefer_socket(false)
        // The largest packet the driver accepts is ours to set, not the server's to
        // announce: catalog rows are small.
        .max_allowed_packet(Some(16 * 1024 * 1024))
        .conn_ttl(None)
        .ssl_opts(tls);
    Ok(mysql_async::Conn::new(opts).await)
}

/// Turns a driver error into a precise, secret-free message and a hint.
pub fn map_error(e: &mysql_async::Error, cfg: &MysqlConfig) -> ConnectorError {
    use mysql_async::{DriverError, Error, IoError};
    match e {
        Error::Server(s) => match s.code {
            1045 | 1698 => ConnectorError::new(
                Fault::Authentication,
                format!("login as {} was refused: {}", cfg.username, s.message),
                "check the username and password, and that the user may connect from onramp's workers' host",
            ),
            1049 => ConnectorError::new(
                Fault::UnknownDatabase,
                format!("database {} does not exist", cfg.database),
                "check the database name",
            ),
            // Too many connections, for the server or for this user.
            1040 | 1203 | 1226 => ConnectorError::new(
                Fault::Busy,
                format!("the server refused the connection: {}", s.message),
                ConnectorError::BUSY_HINT,
            ),
            1044 | 1142 | 1227 => ConnectorError::new(
                Fault::Permission,
                format!("the user lacks a privilege: {}", s.message),
                "grant the user SELECT on the database to discover",
            ),
            _ => ConnectorError::new(
                Fault::Protocol,
                format!("the server refused the request: {}", s.message),
                "see the server's log for this error",
            ),
        },
        Error::Driver(DriverError::NoClientSslFlagFromServer) => ConnectorError::new(
            Fault::Tls,
            format!(
                "tls negotiation with {} failed: the server does not support TLS",
                cfg.host
            ),
            "set sslMode to prefer or disable, or enable TLS on the server",
        ),
        Error::Io(IoError::Tls(t)) => ConnectorError::new(
            Fault::Tls,
            format!("tls handshake with {} failed: {t}", cfg.host),
            "the server's certificate was not accepted: use a certificate signed by a public authority for this host name",
        ),
        Error::Io(IoError::Io(io)) => match io.kind() {
            std::io::ErrorKind::ConnectionRefused
            | std::io::ErrorKind::NotFound
            | std::io::ErrorKind::AddrNotAvailable
            | std::io::ErrorKind::HostUnreachable
            | std::io::ErrorKind::NetworkUnreachable => {
                ConnectorError::unreachable(&cfg.host, cfg.port, io)
            }
            _ => ConnectorError::new(
                Fault::Protocol,
                format!("connection to {}:{} failed: {io}", cfg.host, cfg.port),
                "check that the port belongs to a MySQL or MariaDB server",
            ),
        },
        other => ConnectorError::new(
            Fault::Protocol,
            format!("connection to {}:{} failed: {other}", cfg.host, cfg.port),
            "check that the port belongs to a MySQL or MariaDB server",
        ),
    }
}
