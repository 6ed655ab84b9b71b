//! The egress guard: every outbound connection of a worker goes through here.
//! A name is resolved once, every resolved address is checked against the policy,
//! and the connection goes to a checked address — never a second lookup, so a
//! name cannot resolve to an allowed address for the check and a forbidden one
//! for the connection (DNS rebinding).

pub mod host;
pub mod http;
pub mod policy;

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use futures::future::BoxFuture;
use tokio::net::TcpStream;

pub use policy::{EgressPolicy, Refusal};

use crate::connectors::{ConnectorError, Fault};

/// Turns a host name into addresses. Tests substitute their own.
pub trait Resolver: Send + Sync {
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> BoxFuture<'a, io::Result<Vec<SocketAddr>>>;
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

#[derive(Clone)]
pub struct Egress {
    pub policy: Arc<EgressPolicy>,
    resolver: Arc<dyn Resolver>,
    connector: Arc<dyn Connector>,
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
        }
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
            if let Err(refusal) = self.policy.check(addr.ip()) {
                return Err(denied(host, refusal));
            }
        }
        Ok(addrs)
    }

    /// Connects to the first checked address of `host` that accepts.
    pub async fn connect(&self, host: &str, port: u16) -> Result<TcpStream, ConnectorError> {
        let mut last = None;
        for addr in self.resolve_checked(host, port).await? {
            match self.connector.connect(addr).await {
                Ok(stream) => {
                    let _ = stream.set_nodelay(true);
                    return Ok(stream);
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
