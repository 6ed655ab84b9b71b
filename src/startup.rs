//! Building and running onramp: the API, the workers, or both in one process.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::config::Settings;
use crate::egress::Egress;
use crate::http::{self, AppState};
use crate::queue::{Broker, relay};
use crate::storage::crypto::SecretKey;
use crate::storage::snapshots::SnapshotStore;
use crate::storage::{self};
use crate::worker::{self, WorkerDeps};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Roles {
    pub api: bool,
    pub worker: bool,
}

pub struct Application {
    settings: Arc<Settings>,
    state: AppState,
    listener: Option<TcpListener>,
    /// A process without the API: where it serves its metrics, when set.
    metrics_listener: Option<TcpListener>,
    roles: Roles,
    /// onramp's own AWS identity, for the workers.
    aws: crate::connectors::support::aws::Platform,
}

/// The key from settings, or a development key kept in a local file.
pub fn resolve_secret_key(settings: &Settings) -> anyhow::Result<SecretKey> {
    if let Some(text) = &settings.secret_key {
        return SecretKey::from_base64(text.expose()).context("ONRAMP_SECRET_KEY");
    }
    let path = &settings.secret_key_file;
    if let Ok(text) = std::fs::read_to_string(path) {
        tracing::warn!(path = %path.display(), "using the development secret key from a local file; set ONRAMP_SECRET_KEY in production");
        return SecretKey::from_base64(&text)
            .with_context(|| format!("development key in {}", path.display()));
    }
    let key = SecretKey::generate();
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    write_private(path, &key.to_base64()).with_context(|| format!("writing {}", path.display()))?;
    tracing::warn!(
        path = %path.display(),
        "NO ONRAMP_SECRET_KEY GIVEN: generated a development key and saved it; credentials stored with it are only as safe as that file. Set ONRAMP_SECRET_KEY (32 random bytes, base64) in production"
    );
    Ok(key)
}

fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    use std::io::Write;
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(text.as_bytes())
    }
    #[cfg(not(unix))]
    {
        std::fs::write(path, text)
    }
}

/// The TCP endpoints of onramp's own PostgreSQL, RabbitMQ, Redis and API, as this
/// process reaches them. A Unix socket has no address a connector could name.
pub async fn own_endpoints(settings: &Settings) -> Vec<SocketAddr> {
    let mut found = Vec::new();
    let mut urls = vec![
        (settings.database_url.expose(), 5432),
        (settings.amqp_url.expose(), 5672),
    ];
    // A cluster's nodes are listed one after the other; the nodes the client finds
    // from them are not known here, which README's configuration notes say.
    for redis in settings.redis_url.expose().split(',') {
        urls.push((redis.trim(), 6379));
    }
    for (text, default_port) in urls {
        let Ok(url) = url::Url::parse(text) else {
            continue;
        };
        let socket_query = url
            .query_pairs()
            .any(|(k, v)| k == "host" && v.starts_with('/'));
        let Some(host) = url.host_str().filter(|h| !h.is_empty()) else {
            continue;
        };
        let decoded = percent_decode(host);
        if socket_query || decoded.starts_with('/') {
            continue;
        }
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let port = url.port().unwrap_or(match url.scheme() {
            "amqps" => 5671,
            _ => default_port,
        });
        match tokio::net::lookup_host((host, port)).await {
            Ok(addrs) => found.extend(addrs),
            Err(e) => {
                tracing::warn!(host, error = %e, "could not resolve one of onramp's own services to protect it from datasources")
            }
        }
    }
    let addr = settings.http_addr;
    if addr.ip().is_unspecified() {
        found.push(SocketAddr::from(([127, 0, 0, 1], addr.port())));
        found.push(SocketAddr::from((
            std::net::Ipv6Addr::LOCALHOST,
            addr.port(),
        )));
    } else if addr.port() != 0 {
        found.push(addr);
    }
    found
}

fn percent_decode(text: &str) -> String {
    url::form_urlencoded::parse(format!("x={text}").as_bytes())
        .next()
        .map(|(_, v)| v.into_owned())
        .unwrap_or_default()
}

impl Application {
    /// Prepares storage (creating the database and applying migrations), binds the
    /// listener when serving the API, and declares the broker topology.
    pub async fn build(settings: Settings, roles: Roles) -> anyhow::Result<Application> {
        let egress = Egress::new(settings.egress_policy().map_err(anyhow::Error::msg)?);
        Self::build_with_egress(settings, roles, egress).await
    }

    /// As `build`, with the egress guard given (tests give one with their own resolver).
    pub async fn build_with_egress(
        settings: Settings,
        roles: Roles,
        egress: Egress,
    ) -> anyhow::Result<Application> {
        // onramp's own services are never a datasource, whatever the policy allows.
        let egress = egress
            .with_response_limit(settings.target_response_max_bytes)
            .with_read_budget(settings.target_read_max_bytes)
            .protecting(own_endpoints(&settings).await);
        let settings = Arc::new(settings);
        // Install the metrics recorder before anything records.
        crate::telemetry::metrics();
        let key = resolve_secret_key(&settings)?;
        let mut tries = 0;
        loop {
            match storage::ensure_database(&settings).await {
                Ok(()) => break,
                Err(e) if tries < 10 => {
                    tries += 1;
                    tracing::warn!(error = %e, "postgres not ready; retrying");
                    tokio::time::sleep(Duration::from_millis(500 * tries)).await;
                }
                Err(e) => return Err(e).context("connecting to postgres"),
            }
        }
        let pool = storage::pool(&settings)?;
        storage::migrate(&pool)
            .await
            .context("applying migrations")?;
        let store = Arc::new(SnapshotStore::new(&settings)?);
        let broker = Arc::new(Broker::new(settings.clone()));
        // Declare the topology now when the broker is up; otherwise the first
        // connection of the relay or a worker does it.
        if let Err(e) = Broker::connect(&settings, "setup").await.map(drop) {
            tracing::warn!(error = %e, "rabbitmq not reachable yet; will declare the topology on reconnect");
        }
        let listener = if roles.api {
            let addr = settings.http_addr;
            Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding {addr}"))?,
            )
        } else {
            None
        };
        // The port the API actually took (with port 0, chosen at bind).
        let metrics_listener = match (&listener, settings.metrics_addr.as_str()) {
            (None, addr) if !addr.is_empty() => Some(
                TcpListener::bind(addr)
                    .await
                    .with_context(|| format!("binding metrics_addr {addr}"))?,
            ),
            _ => None,
        };
        let egress = match listener.as_ref().or(metrics_listener.as_ref()) {
            Some(l) => egress.protecting(l.local_addr().into_iter().collect()),
            None => egress,
        };
        let streams = crate::http::streams::Streams::new(
            pool.clone(),
            settings.streams_per_org,
            settings.stream_max,
        );
        let events = crate::http::events::EventFeed::new(pool.clone());
        let state = AppState {
            settings: settings.clone(),
            streams,
            events,
            pool,
            store,
            key,
            broker,
            stopping: CancellationToken::new(),
            egress,
        };
        let aws = crate::connectors::support::aws::Platform::from_chain(
            settings.aws_sts_endpoint.clone(),
        );
        Ok(Application {
            settings,
            state,
            listener,
            metrics_listener,
            roles,
            aws,
        })
    }

    /// The same application, assuming customers' AWS roles as `platform` (a
    /// deployment that hands its AWS identity over itself, and the tests).
    pub fn with_aws(mut self, platform: crate::connectors::support::aws::Platform) -> Application {
        self.aws = platform;
        self
    }

    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.listener.as_ref().and_then(|l| l.local_addr().ok())
    }

    /// Where a process without the API serves its metrics, when it does.
    pub fn metrics_addr(&self) -> Option<SocketAddr> {
        self.metrics_listener
            .as_ref()
            .and_then(|l| l.local_addr().ok())
    }

    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Runs until `shutdown` is cancelled; then stops taking work, drains the
    /// workers, publishes what they recorded, and returns.
    pub async fn run(self, shutdown: CancellationToken) -> anyhow::Result<()> {
        let stopping = self.state.stopping.clone();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            stop.cancelled().await;
            stopping.cancel();
        });
        let relay_stop = CancellationToken::new();
        let relay = tokio::spawn(relay::run(
            self.state.pool.clone(),
            self.state.broker.clone(),
            self.settings.outbox_poll,
            self.settings.outbox_max_message_bytes,
            crate::storage::outbox::Limits {
                per_org: self.settings.org_max_concurrent_jobs as i64,
                per_target: self.settings.target_max_concurrent_jobs as i64,
            },
            relay_stop.clone(),
        ));
        let reconciler = tokio::spawn(crate::worker::reconcile::run(
            self.state.pool.clone(),
            self.settings.clone(),
            relay_stop.clone(),
        ));
        let worker = self.roles.worker.then(|| {
            let deps = Arc::new(WorkerDeps {
                id: Uuid::now_v7(),
                settings: self.settings.clone(),
                pool: self.state.pool.clone(),
                store: self.state.store.clone(),
                key: self.state.key.clone(),
                broker: self.state.broker.clone(),
                net: crate::connectors::Net::new(self.state.egress.clone())
                    .with_aws(self.aws.clone()),
            });
            tokio::spawn(worker::run(deps, shutdown.clone()))
        });
        // Webhook deliveries go from worker processes: they reach out, as jobs do.
        let deliverer = self.roles.worker.then(|| {
            let deliverer = crate::webhooks::deliver::Deliverer {
                pool: self.state.pool.clone(),
                key: self.state.key.clone(),
                settings: self.settings.clone(),
                egress: self.state.egress.clone(),
            };
            tokio::spawn(deliverer.run(shutdown.clone()))
        });
        let metrics_served = self.metrics_listener.map(|listener| {
            let router = http::metrics_router(self.state.clone());
            let stop = shutdown.clone();
            tokio::spawn(async move {
                axum::serve(listener, router)
                    .with_graceful_shutdown(async move { stop.cancelled().await })
                    .await
            })
        });
        let served = match self.listener {
            Some(listener) => {
                let router = http::router(self.state.clone());
                let stop = shutdown.clone();
                tracing::info!(addr = %listener.local_addr()?, "api listening");
                axum::serve(listener, router)
                    .with_graceful_shutdown(async move { stop.cancelled().await })
                    .await
                    .context("http server")
            }
            None => Ok(()),
        };
        if let Some(worker) = worker
            && let Err(e) = worker.await
        {
            tracing::error!(error = %e, "worker task failed");
        }
        // The relay stops last, after a final flush of the outbox.
        if let Some(deliverer) = deliverer {
            let _ = deliverer.await;
        }
        if let Some(m) = metrics_served {
            let _ = m.await;
        }
        relay_stop.cancel();
        let _ = relay.await;
        let _ = reconciler.await;
        served
    }
}
