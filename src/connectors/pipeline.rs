//! The connector half of a job, shared by the worker and `onramp discover`:
//! configure (pure validation into the typed config) → connect (trying again while
//! the target is busy) → discover (and the tenancy check). What to record of each
//! step, and where, is the caller's.

use std::future::Future;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;

use super::{
    Connection, ConnectorConfig, ConnectorError, DatasourceType, Fault, FieldProblem, Net,
    Registered,
};
use crate::domain::snapshot::Snapshot;
use crate::domain::tenancy::{self, TenancySettings};
use crate::egress::ssh::{self, Tunnel, TunnelSettings};

/// Stored or sent credentials of a type named by its text, into the typed config.
pub fn configure(ty: &str, credentials: &Value) -> Result<ConnectorConfig, Vec<FieldProblem>> {
    let ty = DatasourceType::parse(ty)
        .ok_or_else(|| vec![FieldProblem::new("datasourceType", "is not a known type")])?;
    ty.configure(credentials).map(|(_, config)| config)
}

/// Runs a step's work within `limit`; also how often a busy server made it wait.
pub async fn within<T>(
    limit: Duration,
    what: &str,
    fut: impl Future<Output = Result<T, ConnectorError>>,
) -> (Result<T, ConnectorError>, u32) {
    let deadline = tokio::time::Instant::now() + limit;
    // On the heap: a connector's future is large, and the layers around it would
    // otherwise be moved through the stack of the thread that polls them.
    let fut = Box::pin(fut);
    let (out, waits) =
        crate::egress::http::within_step(deadline, tokio::time::timeout(limit, fut)).await;
    (
        out.unwrap_or_else(|_| Err(ConnectorError::timeout(what, limit))),
        waits,
    )
}

/// Opens the SSH tunnel within `limit`. The bastion's host key must be the one the
/// credentials give, else the one `pinned` by an earlier job; with neither, the
/// key presented is trusted and reported for pinning.
pub async fn tunnel(
    settings: &TunnelSettings,
    net: &Net,
    pinned: Option<&str>,
    limit: Duration,
) -> Result<Arc<Tunnel>, ConnectorError> {
    let expected = settings.host_key_fingerprint.as_deref().or(pinned);
    let (opened, _) = within(limit, "tunnel", ssh::open(net.egress(), settings, expected)).await;
    opened.map(Arc::new)
}

/// A failure behind a tunnel, in the tunnel's words when the tunnel was the cause.
pub async fn explained(net: &Net, e: ConnectorError) -> ConnectorError {
    match net.tunnel() {
        Some(t) => t.explain(e).await,
        None => e,
    }
}

/// Connects, trying again while the target says it is busy (at its connection limit,
/// starting up) with a growing, jittered pause, within the connect step's time.
/// The connection and how many retries it took.
pub async fn connect<'a>(
    config: &'a ConnectorConfig,
    net: &'a Net,
    limit: Duration,
) -> Result<(Connection<'a>, u32), ConnectorError> {
    let started = Instant::now();
    let deadline = tokio::time::Instant::now() + limit;
    let mut pause = Duration::from_millis(100);
    let mut retries = 0u32;
    // A busy server's last answer: when the step's time runs out during the next try,
    // the failure is the server's being busy, which is what the user must act on.
    let mut last_busy: Option<ConnectorError> = None;
    let busy = |mut e: ConnectorError, retries: u32| {
        e.message = format!(
            "{} (tried {} times over {} ms)",
            e.message,
            retries + 1,
            started.elapsed().as_millis()
        );
        e.hint = ConnectorError::BUSY_HINT.to_string();
        e
    };
    loop {
        let left = deadline.saturating_duration_since(tokio::time::Instant::now());
        let (connected, waits) = within(left, "connect", config.connect(net)).await;
        retries += waits;
        match connected {
            Ok(c) => return Ok((c, retries)),
            Err(e) if e.fault == Fault::Busy => {
                let jitter = Duration::from_millis(
                    rand::random::<u64>() % (pause.as_millis() as u64 / 2 + 1),
                );
                if tokio::time::Instant::now() + pause + jitter >= deadline {
                    return Err(busy(e, retries));
                }
                last_busy = Some(e);
                metrics::counter!("onramp_target_retries_total", "reason" => "busy").increment(1);
                tokio::time::sleep(pause + jitter).await;
                pause = (pause * 2).min(Duration::from_secs(2));
                retries += 1;
            }
            Err(e) if e.message.starts_with("connect timed out") => {
                if let Some(e) = last_busy {
                    return Err(busy(e, retries));
                }
                // The whole step's time: say so with its limit, not what was left.
                return Err(explained(net, ConnectorError::timeout("connect", limit)).await);
            }
            Err(e) => return Err(explained(net, e).await),
        }
    }
}

/// What discovery found.
pub struct Discovered {
    /// Shared, so that compressing it for Redis can happen off the async threads.
    pub snapshot: std::sync::Arc<Snapshot>,
    /// The databases the credentials see, when the tenancy level is DATABASE.
    pub client_databases: Option<Vec<String>>,
    /// How often a busy server asked onramp to wait.
    pub waits: u32,
}

/// Why discovery found nothing to keep.
pub enum Undiscovered {
    /// The target failed, or took too long.
    Target(ConnectorError),
    /// The schema was read, but the tenancy settings name what it does not have.
    Tenancy(String),
}

/// Discovers the schema (and, for DATABASE tenancy, the databases) within `limit`,
/// closes the connection, and checks the tenancy settings against what was found.
pub async fn discover(
    mut conn: Connection<'_>,
    tenancy_settings: Option<&TenancySettings>,
    limit: Duration,
) -> Result<Discovered, Undiscovered> {
    let (found, waits) = within(limit, "discover", async {
        let snapshot = conn.discover().await?;
        let databases = match tenancy_settings {
            Some(t) if t.tenancy_level == tenancy::Level::Database => {
                Some(conn.list_databases().await?)
            }
            _ => None,
        };
        Ok((snapshot, databases))
    })
    .await;
    conn.close().await;
    let (snapshot, client_databases) = found.map_err(Undiscovered::Target)?;
    if let Some(t) = tenancy_settings {
        tenancy::check_against(t, &snapshot).map_err(Undiscovered::Tenancy)?;
    }
    Ok(Discovered {
        snapshot: std::sync::Arc::new(snapshot),
        client_databases,
        waits,
    })
}
