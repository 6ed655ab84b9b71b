//! Ways into a tunnel for drivers that open their own sockets:
//! - a loopback forward (as `ssh -L` does) that takes exactly one connection, for
//!   a driver that dials an address it is given (mysql);
//! - a SOCKS5 front with a per-tunnel user name and password, for the HTTP client
//!   (reqwest speaks SOCKS5 and sends the host name along, so the bastion resolves it).
//!
//! Both listen on 127.0.0.1 only, hold every channel to the read budget, and close
//! with the tunnel.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::ChannelStream;
use russh::client::{Handle, Msg};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{HostKeyCheck, Tunnel, open_channel};
use crate::domain::{ConnectorError, Fault};
use crate::egress::budget::Budgeted;

/// How long a forward waits for its driver, and a SOCKS client for its handshake.
const ACCEPT_TIMEOUT: Duration = Duration::from_secs(30);
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

fn local_failure(e: std::io::Error) -> ConnectorError {
    ConnectorError::new(
        Fault::Protocol,
        format!("a local end for the ssh tunnel could not be opened: {e}"),
        "this is onramp's fault: try again",
    )
}

fn listen() -> Result<(TcpListener, SocketAddr), ConnectorError> {
    let std = std::net::TcpListener::bind("127.0.0.1:0").map_err(local_failure)?;
    std.set_nonblocking(true).map_err(local_failure)?;
    let addr = std.local_addr().map_err(local_failure)?;
    Ok((TcpListener::from_std(std).map_err(local_failure)?, addr))
}

/// What a forward or the SOCKS front needs of the tunnel to open a channel.
#[derive(Clone)]
struct Way {
    handle: Arc<Handle<HostKeyCheck>>,
    bastion: String,
    refused: Arc<Mutex<Option<ConnectorError>>>,
    read_budget: usize,
}

impl Way {
    /// A channel to `host:port`, held to the read budget like a socket of `Net`.
    async fn open(
        &self,
        host: &str,
        port: u16,
    ) -> Result<Budgeted<ChannelStream<Msg>>, ConnectorError> {
        let channel = open_channel(&self.handle, &self.bastion, host, port).await?;
        Ok(Budgeted::new(channel, self.read_budget))
    }

    /// Keeps a refusal for the job's message: the driver sees only a closed socket.
    fn note(&self, e: ConnectorError) {
        if let Ok(mut r) = self.refused.lock() {
            *r = Some(e);
        }
    }
}

impl Tunnel {
    fn way(&self) -> Way {
        Way {
            handle: self.handle.clone(),
            bastion: self.bastion.clone(),
            refused: self.refused.clone(),
            read_budget: self.read_budget,
        }
    }

    /// A loopback address whose first connection is carried to `host:port` through
    /// the bastion; the listener closes after it (or after `ACCEPT_TIMEOUT`).
    pub fn forward(&self, host: &str, port: u16) -> Result<SocketAddr, ConnectorError> {
        let (listener, addr) = listen()?;
        if let Ok(mut f) = self.forwards.lock() {
            f.push((addr, host.to_string(), port));
        }
        let way = self.way();
        let host = host.to_string();
        let task = tokio::spawn(async move {
            let accepted = tokio::time::timeout(ACCEPT_TIMEOUT, listener.accept()).await;
            drop(listener);
            let Ok(Ok((mut socket, _))) = accepted else {
                return;
            };
            match way.open(&host, port).await {
                Ok(mut channel) => {
                    let _ = tokio::io::copy_bidirectional(&mut socket, &mut channel).await;
                }
                Err(e) => way.note(e),
            }
        });
        self.keep(task.abort_handle());
        Ok(addr)
    }

    /// A `socks5h://` proxy URL into the tunnel, started on first use.
    pub fn socks_url(&self) -> Result<String, ConnectorError> {
        let mut socks = self.socks.lock().map_err(|_| {
            ConnectorError::new(
                Fault::Protocol,
                "the tunnel's state is poisoned",
                "this is a bug",
            )
        })?;
        if let Some(url) = socks.as_ref() {
            return Ok(url.clone());
        }
        let (listener, addr) = listen()?;
        // Only onramp's own client knows these: another local process cannot use
        // the front to reach the customer's network.
        let user = hex::encode(rand::random::<[u8; 12]>());
        let pass = hex::encode(rand::random::<[u8; 24]>());
        let url = format!("socks5h://{user}:{pass}@{addr}");
        let way = self.way();
        let tasks = self.tasks.clone();
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let connection =
                    tokio::spawn(serve(socket, way.clone(), user.clone(), pass.clone()));
                // Held with the tunnel's tasks: each ends when the tunnel does.
                if let Ok(mut t) = tasks.lock() {
                    t.retain(|h| !h.is_finished());
                    t.push(connection.abort_handle());
                }
            }
        });
        self.keep(task.abort_handle());
        *socks = Some(url.clone());
        Ok(url)
    }
}

/// One SOCKS client: the handshake, then its channel, or the reason there is none.
async fn serve(socket: TcpStream, way: Way, user: String, pass: String) {
    let greeted =
        tokio::time::timeout(HANDSHAKE_TIMEOUT, socks_handshake(socket, &user, &pass)).await;
    let Ok(Ok((mut socket, host, port))) = greeted else {
        return;
    };
    match way.open(&host, port).await {
        Ok(mut channel) => {
            if socket.write_all(&reply(0)).await.is_ok() {
                let _ = tokio::io::copy_bidirectional(&mut socket, &mut channel).await;
            }
        }
        Err(e) => {
            // 2: not allowed by the ruleset; 5: connection refused.
            let code = if e.message.contains("prohibited") {
                2
            } else {
                5
            };
            way.note(e);
            let _ = socket.write_all(&reply(code)).await;
        }
    }
}

/// A SOCKS5 reply with `code` and an empty IPv4 bound address (it means nothing here).
fn reply(code: u8) -> [u8; 10] {
    [5, code, 0, 1, 0, 0, 0, 0, 0, 0]
}

/// Compares without stopping at the first difference.
fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |d, (x, y)| d | (x ^ y)) == 0
}

/// RFC 1928 with RFC 1929's user name and password, CONNECT only. The target as
/// the client named it (a domain is passed on unresolved).
async fn socks_handshake(
    mut s: TcpStream,
    user: &str,
    pass: &str,
) -> std::io::Result<(TcpStream, String, u16)> {
    let bad = || std::io::Error::other("bad socks request");
    let mut head = [0u8; 2];
    s.read_exact(&mut head).await?;
    let mut methods = vec![0u8; head[1] as usize];
    s.read_exact(&mut methods).await?;
    if head[0] != 5 || !methods.contains(&2) {
        s.write_all(&[5, 0xff]).await?;
        return Err(bad());
    }
    s.write_all(&[5, 2]).await?;
    let mut version = [0u8; 2];
    s.read_exact(&mut version).await?;
    let mut given_user = vec![0u8; version[1] as usize];
    s.read_exact(&mut given_user).await?;
    let mut plen = [0u8; 1];
    s.read_exact(&mut plen).await?;
    let mut given_pass = vec![0u8; plen[0] as usize];
    s.read_exact(&mut given_pass).await?;
    if version[0] != 1 || !same(&given_user, user.as_bytes()) || !same(&given_pass, pass.as_bytes())
    {
        s.write_all(&[1, 1]).await?;
        return Err(bad());
    }
    s.write_all(&[1, 0]).await?;
    let mut request = [0u8; 4];
    s.read_exact(&mut request).await?;
    if request[0] != 5 || request[1] != 1 {
        // "Command not supported".
        s.write_all(&reply(7)).await?;
        return Err(bad());
    }
    let host = match request[3] {
        1 => {
            let mut ip = [0u8; 4];
            s.read_exact(&mut ip).await?;
            Some(std::net::Ipv4Addr::from(ip).to_string())
        }
        3 => {
            let mut len = [0u8; 1];
            s.read_exact(&mut len).await?;
            let mut name = vec![0u8; len[0] as usize];
            s.read_exact(&mut name).await?;
            String::from_utf8(name).ok().filter(|n| !n.is_empty())
        }
        4 => {
            let mut ip = [0u8; 16];
            s.read_exact(&mut ip).await?;
            Some(std::net::Ipv6Addr::from(ip).to_string())
        }
        _ => None,
    };
    let Some(host) = host else {
        // "Address type not supported".
        s.write_all(&reply(8)).await?;
        return Err(bad());
    };
    let mut port = [0u8; 2];
    s.read_exact(&mut port).await?;
    Ok((s, host, u16::from_be_bytes(port)))
}
