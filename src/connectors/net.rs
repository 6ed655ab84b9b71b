//! What a connector may use to reach its target, and nothing else: a checked TCP
//! socket, checked addresses, SRV answers and a guarded HTTP client. A feature that
//! changes how every type reaches its server (a tunnel, a TLS policy) changes this
//! one type, not eighteen connectors.

use std::net::SocketAddr;

use tokio::net::TcpStream;

use super::ConnectorError;
use crate::egress::Egress;
use crate::egress::budget::Budgeted;
use crate::egress::http::GuardedClient;

/// The capabilities a connector's `connect` receives.
#[derive(Clone)]
pub struct Net {
    egress: Egress,
}

impl Net {
    pub fn new(egress: Egress) -> Net {
        Net { egress }
    }

    /// A socket to the first checked address of `host` that accepts.
    pub async fn tcp(&self, host: &str, port: u16) -> Result<Budgeted<TcpStream>, ConnectorError> {
        self.egress.connect(host, port).await
    }

    /// A socket to one address that [`Net::addresses`] returned, checked again.
    pub async fn tcp_to(
        &self,
        host: &str,
        addr: SocketAddr,
    ) -> Result<Budgeted<TcpStream>, ConnectorError> {
        self.egress.connect_addr(host, addr).await
    }

    /// Every address of `host`, each allowed by the policy, for a driver that dials
    /// by itself (it is handed these and nothing else).
    pub async fn addresses(
        &self,
        host: &str,
        port: u16,
    ) -> Result<Vec<SocketAddr>, ConnectorError> {
        self.egress.resolve_checked(host, port).await
    }

    /// An SRV record's targets; each must still go through `addresses`.
    pub async fn srv(&self, record: &str) -> Result<Vec<(String, u16)>, ConnectorError> {
        self.egress.resolve_srv(record).await
    }

    /// An HTTP client whose every connection, redirect and read goes through the guard.
    pub fn http(&self) -> Result<GuardedClient, ConnectorError> {
        GuardedClient::new(self.egress.clone(), reqwest::Client::builder())
    }

    /// The most a connector reads of one answer from its target.
    pub fn response_max_bytes(&self) -> usize {
        self.egress.response_max_bytes()
    }
}
