//! Ways into a tunnel for drivers that open their own sockets:
//! - a loopback forward (as `ssh -L` does) that takes exactly one connection, for
//!   a driver that dials an address it is given (mysql);
//! - a SOCKS5 front with a per-tunnel user name and password, for the HTTP client
//!   (reqwest speaks SOCKS5 and sends the host name along, so the bastion resolves it).
//!
//! Both listen on 127.0.0.1 only, and close with the tunnel.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::{HostKeyCheck, Tunnel, open_channel};
use crate::domain::{ConnectorError, Fault};
use russh::client::Handle;

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

impl Tunnel {
    /// A loopback address whose first connection is carried to `host:port` through
    /// the bastion; the listener closes after it (or after `ACCEPT_TIMEOUT`).
    pub fn forward(&self, host: &str, port: u16) -> Result<SocketAddr, ConnectorError> {
        let std = std::net::TcpListener::bind("127.0.0.1:0").map_err(local_failure)?;
        std.set_nonblocking(true).map_err(local_failure)?;
        let addr = std.local_addr().map_err(local_failure)?;
        let listener = TcpListener::from_std(std).map_err(local_failure)?;
        if let Ok(mut f) = self.forwards.lock() {
            f.push((addr, host.to_string(), port));
        }
        let (handle, bastion, refused) = (
            self.handle.clone(),
            self.bastion.clone(),
            self.refused.clone(),
        );
        let host = host.to_string();
        let task = tokio::spawn(async move {
            let Ok(Ok((socket, _))) = tokio::time::timeout(ACCEPT_TIMEOUT, listener.accept()).await
            else {
                return;
            };
            drop(listener);
            carry(socket, &handle, &bastion, &host, port, &refused).await;
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
        let std = std::net::TcpListener::bind("127.0.0.1:0").map_err(local_failure)?;
        std.set_nonblocking(true).map_err(local_failure)?;
        let addr = std.local_addr().map_err(local_failure)?;
        let listener = TcpListener::from_std(std).map_err(local_failure)?;
        // Only onramp's own client knows these: another local process cannot use
        // the front to reach the customer's network.
        let user = hex::encode(rand::random::<[u8; 12]>());
        let pass = hex::encode(rand::random::<[u8; 24]>());
        let url = format!("socks5h://{user}:{pass}@{addr}");
        let (handle, bastion, refused) = (
            self.handle.clone(),
            self.bastion.clone(),
            self.refused.clone(),
        );
        let task = tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                let (handle, bastion, refused) = (handle.clone(), bastion.clone(), refused.clone());
                let (user, pass) = (user.clone(), pass.clone());
                tokio::spawn(async move {
                    let greeted = tokio::time::timeout(
                        HANDSHAKE_TIMEOUT,
                        socks_handshake(socket, &user, &pass),
                    )
                    .await;
                    if let Ok(Ok((mut socket, host, port))) = greeted {
                        match open_channel(&handle, &bastion, &host, port).await {
                            Ok(channel) => {
                                // Succeeded; the bound address is not meaningful here.
                                if socket
                                    .write_all(&[5, 0, 0, 1, 0, 0, 0, 0, 0, 0])
                                    .await
                                    .is_ok()
                                {
                                    let mut channel = channel;
                                    let _ =
                                        tokio::io::copy_bidirectional(&mut socket, &mut channel)
                                            .await;
                                }
                            }
                            Err(e) => {
                                note(&refused, e);
                                // "Host unreachable".
                                let _ = socket.write_all(&[5, 4, 0, 1, 0, 0, 0, 0, 0, 0]).await;
                            }
                        }
                    }
                });
            }
        });
        self.keep(task.abort_handle());
        *socks = Some(url.clone());
        Ok(url)
    }
}

fn note(refused: &Mutex<Option<ConnectorError>>, e: ConnectorError) {
    if let Ok(mut r) = refused.lock() {
        *r = Some(e);
    }
}

/// Carries one accepted connection to `host:port` through the bastion.
async fn carry(
    mut socket: TcpStream,
    handle: &Arc<Handle<HostKeyCheck>>,
    bastion: &str,
    host: &str,
    port: u16,
    refused: &Mutex<Option<ConnectorError>>,
) {
    match open_channel(handle, bastion, host, port).await {
        Ok(mut channel) => {
            let _ = tokio::io::copy_bidirectional(&mut socket, &mut channel).await;
        }
        Err(e) => note(refused, e),
    }
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
    if version[0] != 1 || given_user != user.as_bytes() || given_pass != pass.as_bytes() {
        s.write_all(&[1, 1]).await?;
        return Err(bad());
    }
    s.write_all(&[1, 0]).await?;
    let mut request = [0u8; 4];
    s.read_exact(&mut request).await?;
    if request[0] != 5 || request[1] != 1 {
        // "Command not supported".
        s.write_all(&[5, 7, 0, 1, 0, 0, 0, 0, 0, 0]).await?;
        return Err(bad());
    }
    let host = match request[3] {
        1 => {
            let mut ip = [0u8; 4];
            s.read_exact(&mut ip).await?;
            std::net::Ipv4Addr::from(ip).to_string()
        }
        3 => {
            let mut len = [0u8; 1];
            s.read_exact(&mut len).await?;
            let mut name = vec![0u8; len[0] as usize];
            s.read_exact(&mut name).await?;
            String::from_utf8(name).map_err(|_| bad())?
        }
        4 => {
            let mut ip = [0u8; 16];
            s.read_exact(&mut ip).await?;
            std::net::Ipv6Addr::from(ip).to_string()
        }
        _ => return Err(bad()),
    };
    let mut port = [0u8; 2];
    s.read_exact(&mut port).await?;
    Ok((s, host, u16::from_be_bytes(port)))
}
