//! What a connector may use to reach its target, and nothing else: a checked TCP
//! socket, checked addresses, SRV answers and a guarded HTTP client. A feature that
//! changes how every type reaches its server (a tunnel, a TLS policy) changes this
//! one type, not eighteen connectors.
//!
//! Through an SSH tunnel the same calls lead through the bastion: a socket is a
//! direct-tcpip channel, an address is a one-connection loopback forward, and the
//! HTTP client goes through the tunnel's SOCKS front. Connectors do not know.

use std::net::SocketAddr;
use std::sync::Arc;

use super::ConnectorError;
use crate::egress::Egress;
use crate::egress::budget::Budgeted;
use crate::egress::http::GuardedClient;
use crate::egress::link::Link;
use crate::egress::ssh::Tunnel;
use crate::egress::tls::TlsPolicy;

/// A connection to a target, as a connector's driver reads and writes it.
pub type TargetStream = Budgeted<Link>;

/// The capabilities a connector's `connect` receives.
#[derive(Clone)]
pub struct Net {
    egress: Egress,
    via: Option<Arc<Tunnel>>,
    /// onramp's own AWS identity, which assumes customers' roles.
    aws: crate::connectors::support::aws::Platform,
}

impl Net {
    pub fn new(egress: Egress) -> Net {
        Net {
            egress,
            via: None,
            aws: Default::default(),
        }
    }

    /// The same capabilities, with onramp's AWS identity.
    pub fn with_aws(mut self, platform: crate::connectors::support::aws::Platform) -> Net {
        self.aws = platform;
        self
    }

    pub fn aws(&self) -> &crate::connectors::support::aws::Platform {
        &self.aws
    }

    /// The same capabilities, leading through `tunnel`.
    pub fn through(&self, tunnel: Arc<Tunnel>) -> Net {
        Net {
            egress: self.egress.clone(),
            via: Some(tunnel),
            aws: self.aws.clone(),
        }
    }

    /// The tunnel this leads through, if any.
    pub fn tunnel(&self) -> Option<&Arc<Tunnel>> {
        self.via.as_ref()
    }

    pub fn egress(&self) -> &Egress {
        &self.egress
    }

    /// A socket to the first checked address of `host` that accepts.
    pub async fn tcp(&self, host: &str, port: u16) -> Result<TargetStream, ConnectorError> {
        match &self.via {
            Some(t) => Ok(Budgeted::new(
                Link::Ssh(t.channel(host, port).await?),
                self.egress.read_budget(),
            )),
            None => Ok(self.egress.connect(host, port).await?.map(Link::Tcp)),
        }
    }

    /// A socket to one address that [`Net::addresses`] returned, checked again.
    pub async fn tcp_to(
        &self,
        host: &str,
        addr: SocketAddr,
    ) -> Result<TargetStream, ConnectorError> {
        match &self.via {
            Some(t) => {
                let (host, port) = t
                    .forwarded(addr)
                    .unwrap_or_else(|| (host.to_string(), addr.port()));
                self.tcp(&host, port).await
            }
            None => Ok(self.egress.connect_addr(host, addr).await?.map(Link::Tcp)),
        }
    }

    /// Every address of `host`, each allowed by the policy, to be connected with
    /// [`Net::tcp_to`]. Through a tunnel, the target is resolved by the bastion: one
    /// stand-in address, which `tcp_to` turns into a channel to `host:port`.
    pub async fn addresses(
        &self,
        host: &str,
        port: u16,
    ) -> Result<Vec<SocketAddr>, ConnectorError> {
        match &self.via {
            Some(_) => Ok(vec![SocketAddr::from(([127, 0, 0, 1], port))]),
            None => self.egress.resolve_checked(host, port).await,
        }
    }

    /// The addresses a driver that dials by itself is handed, and nothing else: the
    /// checked addresses of `host`, or, through a tunnel, one loopback forward to
    /// `host:port` that takes exactly one connection.
    pub async fn dial_addresses(
        &self,
        host: &str,
        port: u16,
    ) -> Result<Vec<SocketAddr>, ConnectorError> {
        match &self.via {
            Some(t) => Ok(vec![t.forward(host, port)?]),
            None => self.egress.resolve_checked(host, port).await,
        }
    }

    /// An SRV record's targets; each must still go through `addresses`.
    pub async fn srv(&self, record: &str) -> Result<Vec<(String, u16)>, ConnectorError> {
        self.egress.resolve_srv(record).await
    }

    /// An HTTP client whose every connection, redirect and read goes through the guard.
    pub fn http(&self) -> Result<GuardedClient, ConnectorError> {
        match &self.via {
            Some(t) => GuardedClient::through(
                self.egress.clone(),
                reqwest::Client::builder(),
                &t.socks_url()?,
            ),
            None => GuardedClient::new(self.egress.clone(), reqwest::Client::builder()),
        }
    }

    /// An HTTP client like [`Net::http`] whose TLS follows `policy` (its CA, its
    /// client certificate, how much it checks), and whose handshake failures name
    /// the certificate the server presented.
    pub fn http_tls(&self, policy: &TlsPolicy) -> Result<GuardedClient, ConnectorError> {
        let (config, presented) = policy.client_config()?;
        let builder = reqwest::Client::builder().use_preconfigured_tls(config);
        let client = match &self.via {
            Some(t) => GuardedClient::through(self.egress.clone(), builder, &t.socks_url()?),
            None => GuardedClient::new(self.egress.clone(), builder),
        }?;
        Ok(client.reporting(presented))
    }

    /// The most a connector reads of one answer from its target.
    pub fn response_max_bytes(&self) -> usize {
        self.egress.response_max_bytes()
    }
}
