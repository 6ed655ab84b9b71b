//! Connecting: the seeds (a host, a connection string's hosts, or an SRV record's
//! targets) are resolved and checked by the egress guard, one checked address is
//! pinned, and the driver reaches it only through the relay (`relay.rs`), with a
//! direct connection, so no member list from the server can send it elsewhere.

use std::net::SocketAddr;
use std::time::Duration;

use mongodb::bson::doc;
use mongodb::options::{
    AuthMechanism, ClientOptions, Credential, ServerAddress, ServerMonitoringMode, Tls,
};
use mongodb::{Client, error::ErrorKind};
use secrecy::ExposeSecret;

use super::config::MongoConfig;
use super::relay::Relay;
use super::uri::{self, Seeds};
use crate::connectors::Net;
use crate::connectors::{ConnectorError, Fault};
use crate::egress::tls::SslMode;

pub struct MongoSession {
    pub(super) client: Client,
    /// Kept until the client is shut down: the driver's only way out.
    relay: Relay,
    pub(super) target: String,
}

impl MongoSession {
    /// Runs driver work until it ends or the relay sees the server misbehave.
    pub(super) async fn guarded<T>(
        &self,
        work: impl std::future::Future<Output = Result<T, mongodb::error::Error>>,
    ) -> Result<T, ConnectorError> {
        match self.relay.until_failure(work).await? {
            Ok(v) => Ok(v),
            Err(e) => Err(self.error(&e)),
        }
    }

    pub async fn close(self) {
        self.client.shutdown().await;
        drop(self.relay);
    }

    /// The far side's own error when there was one (the driver only sees its
    /// socket close), else the driver's.
    pub(super) fn error(&self, e: &mongodb::error::Error) -> ConnectorError {
        self.relay
            .failure()
            .unwrap_or_else(|| map_error(e, &self.target))
    }
}

/// What to log in with: the fields, else the connection string's.
struct Login {
    username: Option<String>,
    password: Option<String>,
    source: String,
    mechanism: Option<AuthMechanism>,
}

pub(super) fn map_error(e: &mongodb::error::Error, target: &str) -> ConnectorError {
    let text = e.to_string();
    match e.kind.as_ref() {
        ErrorKind::Authentication { .. } => ConnectorError::new(
            Fault::Authentication,
            format!("mongodb refused the login: {text}"),
            "check the username, password and authDatabase",
        ),
        ErrorKind::Command(c) if c.code == 18 => ConnectorError::new(
            Fault::Authentication,
            format!("mongodb refused the login: {}", c.message),
            "check the username, password and authDatabase",
        ),
        ErrorKind::Command(c) if c.code == 13 => ConnectorError::new(
            Fault::Permission,
            format!("the user lacks a privilege: {}", c.message),
            "grant the user listDatabases, listCollections and find (the read role) on the databases",
        ),
        ErrorKind::ServerSelection { .. } | ErrorKind::Io(_) => {
            if text.to_ascii_lowercase().contains("timed out") {
                ConnectorError::new(
                    Fault::Timeout,
                    format!("{target} did not answer in time"),
                    "check that it is a MongoDB server and not overloaded",
                )
            } else {
                ConnectorError::new(
                    Fault::Unreachable,
                    format!("could not talk to {target}: the connection closed"),
                    "check the host and port, that it is a MongoDB server, and the tls setting",
                )
            }
        }
        _ => ConnectorError::new(
            Fault::Protocol,
            format!("mongodb answered an error: {text}"),
            "check that the server is MongoDB 4.2 or later",
        ),
    }
}

/// The seeds as (host, port), an SRV record resolved through the guard's resolver.
async fn seeds(
    cfg: &MongoConfig,
    net: &Net,
) -> Result<(Vec<(String, u16)>, Login, bool), ConnectorError> {
    let from_fields = |uri_user: Option<String>,
                       uri_pass: Option<String>,
                       source: Option<String>,
                       mechanism| Login {
        username: cfg.username.clone().or(uri_user),
        password: cfg
            .password
            .as_ref()
            .map(|p| p.expose_secret().to_string())
            .or(uri_pass),
        source: source.unwrap_or_else(|| cfg.auth_database.clone()),
        mechanism,
    };
    let Some(text) = &cfg.uri else {
        let host = cfg.host.clone().unwrap_or_default();
        return Ok((
            vec![(host, cfg.port)],
            from_fields(None, None, None, None),
            cfg.mode() != SslMode::Disable,
        ));
    };
    let target = uri::read(text.expose_secret()).map_err(|why| {
        ConnectorError::new(
            Fault::Protocol,
            format!("the connection string is refused: {why}"),
            "update the datasource with a connection string onramp accepts",
        )
    })?;
    let login = from_fields(
        target.username,
        target.password,
        target.auth_source,
        target.mechanism,
    );
    match target.seeds {
        // cfg.mode() has read the string's tls (and sslMode over it).
        Seeds::Hosts(hosts) => Ok((hosts, login, cfg.mode() != SslMode::Disable)),
        Seeds::Srv(name) => {
            let record = format!("_mongodb._tcp.{name}");
            let found = net.srv(&record).await?;
            if found.is_empty() {
                return Err(ConnectorError::new(
                    Fault::Unreachable,
                    format!("the SRV record {record} lists no host"),
                    "check the mongodb+srv host name",
                ));
            }
            // mongodb+srv means TLS unless the string (or sslMode) turns it off.
            Ok((found, login, cfg.mode() != SslMode::Disable))
        }
    }
}

/// The first seed that accepts a connection, with the checked address it took.
/// Every seed is checked before any is tried: a list that names a refused address
/// is refused whole.
async fn pin(seeds: &[(String, u16)], net: &Net) -> Result<(String, SocketAddr), ConnectorError> {
    let mut checked = Vec::new();
    for (host, port) in seeds.iter().take(16) {
        for addr in net.addresses(host, *port).await? {
            checked.push((host.clone(), addr));
        }
    }
    let mut last = None;
    for (host, addr) in checked {
        match net.tcp_to(&host, addr).await {
            // Refused connections surface here, at once, rather than after the
            // driver's server selection gives up.
            Ok(stream) => {
                drop(stream);
                return Ok((host, addr));
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        ConnectorError::new(
            Fault::Unreachable,
            "the connection string names no reachable host",
            "check the hosts",
        )
    }))
}

pub async fn connect(cfg: &MongoConfig, net: &Net) -> Result<MongoSession, ConnectorError> {
    let (seeds, login, tls) = seeds(cfg, net).await?;
    let (host, addr) = pin(&seeds, net).await?;
    let target = format!("{host}:{}", addr.port());
    let policy = tls.then(|| cfg.policy_when_on());
    let relay = Relay::start(net, &host, addr, policy, Duration::from_secs(10))?;
    let mut options = ClientOptions::default();
    options.hosts = vec![ServerAddress::Unix {
        path: relay.path.clone(),
    }];
    // One server, never the members it names; TLS is the relay's.
    options.direct_connection = Some(true);
    options.tls = Some(Tls::Disabled);
    options.app_name = Some("onramp".into());
    options.server_monitoring_mode = Some(ServerMonitoringMode::Poll);
    options.max_pool_size = Some(4);
    options.min_pool_size = Some(0);
    // The worker's phase timeouts bound the whole step; these bound each try.
    options.connect_timeout = Some(Duration::from_secs(10));
    options.server_selection_timeout = Some(Duration::from_secs(30));
    if let Some(user) = &login.username {
        options.credential = Some(
            Credential::builder()
                .username(user.clone())
                .password(login.password.clone())
                .source(login.source.clone())
                .mechanism(login.mechanism.clone())
                .build(),
        );
    }
    let client = Client::with_options(options).map_err(|e| map_error(&e, &target))?;
    let session = MongoSession {
        client,
        relay,
        target,
    };
    let auth_db = if login.username.is_some() {
        login.source.as_str()
    } else {
        "admin"
    };
    let ping = session
        .guarded(
            session
                .client
                .database(auth_db)
                .run_command(doc! {"ping": 1})
                .into_future(),
        )
        .await;
    match ping {
        Ok(_) => Ok(session),
        Err(error) => {
            session.close().await;
            Err(error)
        }
    }
}
