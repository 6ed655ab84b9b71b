//! The egress guard: every outbound connection of a worker goes through here.
//! A name is resolved once, every resolved address is checked against the policy,
//! and the connection goes to a checked address — never a second lookup, so a
//! name cannot resolve to an allowed address for the check and a forbidden one
//! for the connection (DNS rebinding).

pub mod budget;
pub mod host;
pub mod http;
pub mod link;
pub mod policy;
pub mod ssh;
pub mod tls;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::net::TcpStream;

pub use policy::{EgressPolicy, Refusal};

use crate::domain::{ConnectorError, Fault};

/// Turns a host name into addresses. Tests substitute their own.
pub trait Resolver: Send + Sync {
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> BoxFuture<'a, io::Result<Vec<SocketAddr>>>;

    /// The targets of an SRV record (`_mongodb._tcp.<name>`), as (host, port). Only
    /// names come back: each is resolved and checked like any other host.
    fn resolve_srv<'a>(&'a self, record: &'a str) -> BoxFuture<'a, io::Result<Vec<(String, u16)>>> {
        Box::pin(async move {
            let resolver = hickory_resolver::TokioResolver::builder_tokio()
                .map_err(io::Error::other)?
                .build()
                .map_err(io::Error::other)?;
            let lookup = resolver
                .srv_lookup(record)
                .await
                .map_err(io::Error::other)?;
            Ok(lookup
                .answers()
                .iter()
                .filter_map(|r| match &r.data {
                    hickory_resolver::proto::rr::RData::SRV(srv) => Some((
                        srv.target.to_utf8().trim_end_matches('.').to_string(),
                        srv.port,
                    )),
                    _ => None,
                })
                .collect())
        })
    }
}

/// Opens a TCP connection to one checked address. Tests substitute their own.
pub trait Connector: Send + Sync {
    fn connect(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<TcpStream>>;
}

pub struct SystemResolver;

impl Resolver for SystemResolver {
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> BoxFuture<'a, io::Result<Vec<SocketAddr>>> {
        Box::pin(async move { Ok(tokio::net::lookup_host((host, port)).await?.collect()) })
    }
}

pub struct SystemConnector;

impl Connector for SystemConnector {
    fn connect(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<TcpStream>> {
        Box::pin(TcpStream::connect(addr))
    }
}

/// The most a connector reads of one HTTP answer unless the operator says otherwise.
pub const DEFAULT_RESPONSE_MAX_BYTES: usize = 32 * 1024 * 1024;

#[derive(Clone)]
pub struct Egress {
    pub policy: Arc<EgressPolicy>,
    resolver: Arc<dyn Resolver>,
    connector: Arc<dyn Connector>,
    /// onramp's own endpoints (database, broker, cache, API), refused whatever the
    /// policy says.
    protected: Arc<Vec<SocketAddr>>,
    /// The most a connector reads of one HTTP answer from a target.
    response_max_bytes: usize,
    /// The most one connection (or one HTTP client) reads from a target in all.
    read_budget: usize,
}

impl Egress {
    pub fn new(policy: EgressPolicy) -> Egress {
        Egress::with(policy, Arc::new(SystemResolver), Arc::new(SystemConnector))
    }

    pub fn with(
        policy: EgressPolicy,
        resolver: Arc<dyn Resolver>,
        connector: Arc<dyn Connector>,
    ) -> Egress {
        Egress {
            policy: Arc::new(policy),
            resolver,
            connector,
            protected: Arc::new(Vec::new()),
            response_max_bytes: DEFAULT_RESPONSE_MAX_BYTES,
            read_budget: budget::DEFAULT_READ_BUDGET_BYTES,
        }
    }

    pub fn with_read_budget(mut self, max_bytes: usize) -> Egress {
        self.read_budget = max_bytes;
        self
    }

    pub fn read_budget(&self) -> usize {
        self.read_budget
    }

    /// The same guard, also refusing these endpoints of onramp's own.
    pub fn protecting(mut self, endpoints: Vec<SocketAddr>) -> Egress {
        let mut all: Vec<SocketAddr> = self.protected.iter().copied().collect();
        all.extend(
            endpoints
                .into_iter()
                .map(|a| SocketAddr::new(policy::canonical(a.ip()), a.port())),
        );
        all.sort();
        all.dedup();
        self.protected = Arc::new(all);
        self
    }

    pub fn with_response_limit(mut self, max_bytes: usize) -> Egress {
        self.response_max_bytes = max_bytes;
        self
    }

    pub fn response_max_bytes(&self) -> usize {
        self.response_max_bytes
    }

    /// Whether `addr` is one of onramp's own endpoints.
    pub fn is_protected(&self, addr: SocketAddr) -> bool {
        let addr = SocketAddr::new(policy::canonical(addr.ip()), addr.port());
        self.protected.contains(&addr)
    }

    /// Whether some protected endpoint has this address, on any port.
    pub fn protects_ip(&self, ip: IpAddr) -> bool {
        let ip = policy::canonical(ip);
        self.protected.iter().any(|a| a.ip() == ip)
    }

    /// The policy's verdict on one address and port, own endpoints included.
    pub fn check_addr(&self, host: &str, addr: SocketAddr) -> Result<(), ConnectorError> {
        if let Err(refusal) = self.policy.check(addr.ip()) {
            return Err(denied(host, refusal));
        }
        if self.is_protected(addr) {
            return Err(denied(host, Refusal::OwnService));
        }
        Ok(())
    }

    /// Resolves `host` once and checks every address; refuses if any is forbidden,
    /// so a name cannot smuggle a forbidden address in beside an allowed one.
    pub async fn resolve_checked(
        &self,
        host: &str,
        port: u16,
    ) -> Result<Vec<SocketAddr>, ConnectorError> {
        let literal = host.trim_start_matches('[').trim_end_matches(']');
        let addrs = match literal.parse::<IpAddr>() {
            Ok(ip) => vec![SocketAddr::new(ip, port)],
            Err(_) => self.resolver.resolve(host, port).await.map_err(|e| {
                ConnectorError::new(
                    Fault::Unreachable,
                    format!("host {host} could not be resolved: {e}"),
                    "check the host name",
                )
            })?,
        };
        if addrs.is_empty() {
            return Err(ConnectorError::new(
                Fault::Unreachable,
                format!("host {host} resolved to no address"),
                "check the host name",
            ));
        }
        for addr in &addrs {
            // Port 0 means "any port": the HTTP resolver learns the port later.
            if port == 0 {
                if let Err(refusal) = self.policy.check(addr.ip()) {
                    return Err(denied(host, refusal));
                }
            } else {
                self.check_addr(host, *addr)?;
            }
        }
        Ok(addrs)
    }

    /// An SRV record's targets, through the same resolver (so tests can answer it).
    pub async fn resolve_srv(&self, record: &str) -> Result<Vec<(String, u16)>, ConnectorError> {
        self.resolver.resolve_srv(record).await.map_err(|e| {
            ConnectorError::new(
                Fault::Unreachable,
                format!("the SRV record {record} could not be resolved: {e}"),
                "check the mongodb+srv host name",
            )
        })
    }

    /// Connects to one address that `resolve_checked` returned, checking it again
    /// (a caller that pins an address for later connections goes through here).
    pub async fn connect_addr(
        &self,
        host: &str,
        addr: SocketAddr,
    ) -> Result<budget::Budgeted<TcpStream>, ConnectorError> {
        self.check_addr(host, addr)?;
        let stream = self
            .connector
            .connect(addr)
            .await
            .map_err(|e| ConnectorError::unreachable(host, addr.port(), e))?;
        let _ = stream.set_nodelay(true);
        Ok(budget::Budgeted::new(stream, self.read_budget))
    }

    /// Connects to the first checked address of `host` that accepts; what is read
    /// from it is held to the read budget.
    pub async fn connect(
        &self,
        host: &str,
        port: u16,
    ) -> Result<budget::Budgeted<TcpStream>, ConnectorError> {
        let mut last = None;
        for addr in self.resolve_checked(host, port).await? {
            match self.connector.connect(addr).await {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(budget::Budgeted::new(stream, self.read_budget));
                }
                Err(e) => last = Some(e),
            }
        }
        Err(ConnectorError::unreachable(
            host,
            port,
            last.map(|e| e.to_string())
                .unwrap_or_else(|| "no address".into()),
        ))
    }
}

/// The error for a refused target: the class of address and the setting, nothing
/// about whether anything listens there.
pub fn denied(host: &str, refusal: Refusal) -> ConnectorError {
    ConnectorError::new(
        Fault::Egress,
        format!(
            "{host} is {} and is refused by the egress policy; no connection was attempted",
            refusal.class()
        ),
        refusal.hint(),
    )
}
