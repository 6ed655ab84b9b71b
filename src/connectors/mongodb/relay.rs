//! A relay between the MongoDB driver and one checked address. The driver offers
//! no hook for its own connections (no resolver, no socket, no TLS name of ours),
//! so it is given a Unix socket in a private directory instead, and each connection
//! it opens there is carried by this relay to the one address the egress guard
//! checked, with TLS done here, against the real host name. The driver never
//! resolves or connects to anything itself.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::UnixListener;
use tokio::sync::Semaphore;

use crate::connectors::Net;
use crate::connectors::{ConnectorError, Fault};

/// Connections the driver may hold open at once through one relay (a monitor, a
/// round-trip probe and a small pool).
const MAX_CONNECTIONS: usize = 8;

pub struct Relay {
    dir: PathBuf,
    pub path: PathBuf,
    task: tokio::task::JoinHandle<()>,
    /// The first thing that went wrong on the far side, for the job's message: the
    /// driver only ever sees its end of the socket close.
    failure: Arc<Mutex<Option<ConnectorError>>>,
    /// Told when the first failure is recorded: the driver would only notice at its
    /// server selection timeout.
    failed: Arc<tokio::sync::Notify>,
}

impl Relay {
    /// Listens for the driver; every connection goes to `addr`, named `host` (for
    /// TLS and messages), with TLS as `tls` says when given.
    pub fn start(
        net: &Net,
        host: &str,
        addr: SocketAddr,
        tls: Option<crate::egress::tls::TlsPolicy>,
        handshake: Duration,
    ) -> Result<Relay, ConnectorError> {
        let local = |e: std::io::Error| {
            ConnectorError::new(
                Fault::Protocol,
                format!("could not open the local relay for the driver: {e}"),
                "this is a fault of the worker's machine (its temporary directory)",
            )
        };
        let dir =
            std::env::temp_dir().join(format!("onramp-mongo-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir(&dir).map_err(local)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
                .map_err(local)?;
        }
        let path = dir.join("s");
        let listener = UnixListener::bind(&path).map_err(local)?;
        let failure: Arc<Mutex<Option<ConnectorError>>> = Arc::default();
        let failed = Arc::new(tokio::sync::Notify::new());
        let (tls_config, presented) = match tls {
            Some(policy) => {
                let (config, presented) = policy.client_config()?;
                (Some(Arc::new(config)), Some(presented))
            }
            None => (None, None),
        };
        let server_name = ServerName::try_from(host.to_string()).ok();
        let (net, host, record) = (net.clone(), host.to_string(), failure.clone());
        let told = failed.clone();
        let max_message = net.response_max_bytes();
        let task = tokio::spawn(async move {
            let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
            // Dropped with this task: stopping the relay stops every connection.
            let mut connections = tokio::task::JoinSet::new();
            while let Ok((mut down, _)) = listener.accept().await {
                while connections.try_join_next().is_some() {}
                let Ok(slot) = slots.clone().acquire_owned().await else {
                    return;
                };
                let (net, host, record) = (net.clone(), host.clone(), record.clone());
                let told = told.clone();
                let (tls_config, server_name) = (tls_config.clone(), server_name.clone());
                let presented = presented.clone();
                connections.spawn(async move {
                    let _slot = slot;
                    let note = |e: ConnectorError| {
                        if let Ok(mut f) = record.lock()
                            && f.is_none()
                        {
                            *f = Some(e);
                            told.notify_waiters();
                            told.notify_one();
                        }
                    };
                    let up = match tokio::time::timeout(handshake, net.tcp_to(&host, addr)).await {
                        Ok(Ok(up)) => up,
                        Ok(Err(e)) => return note(e),
                        Err(_) => {
                            return note(ConnectorError::timeout(
                                "connecting to the server",
                                handshake,
                            ));
                        }
                    };
                    match (tls_config, server_name) {
                        (Some(config), Some(name)) => {
                            let connector = tokio_rustls::TlsConnector::from(config);
                            let mut up = match tokio::time::timeout(
                                handshake,
                                connector.connect(name, up),
                            )
                            .await
                            {
                                Ok(Ok(up)) => up,
                                Ok(Err(e)) => {
                                    return note(match crate::egress::tls::find_rustls_error(&e) {
                                        Some(tls) => crate::egress::tls::tls_failure(
                                            &host,
                                            tls,
                                            presented.as_ref().and_then(|p| p.get()).as_deref(),
                                        ),
                                        None => ConnectorError::new(
                                            Fault::Tls,
                                            format!("tls with {host} failed: {e}"),
                                            "check the tls setting: the server may not speak TLS",
                                        ),
                                    });
                                }
                                Err(_) => {
                                    return note(ConnectorError::timeout(
                                        "the tls handshake",
                                        handshake,
                                    ));
                                }
                            };
                            if let Err(e) = carry(&mut down, &mut up, max_message, &host).await {
                                note(e);
                            }
                            let _ = up.shutdown().await;
                        }
                        (Some(_), None) => note(ConnectorError::new(
                            Fault::Tls,
                            format!("{host} is not a name a certificate can be checked against"),
                            "give the server's host name",
                        )),
                        _ => {
                            let mut up = up;
                            if let Err(e) = carry(&mut down, &mut up, max_message, &host).await {
                                note(e);
                            }
                        }
                    }
                });
            }
        });
        Ok(Relay {
            dir,
            path,
            task,
            failure,
            failed,
        })
    }

    /// Runs `work` until it ends or the relay records a failure, whichever is first.
    pub async fn until_failure<T>(
        &self,
        work: impl std::future::Future<Output = T>,
    ) -> Result<T, ConnectorError> {
        if let Some(e) = self.failure() {
            return Err(e);
        }
        tokio::select! {
            done = work => Ok(done),
            _ = self.failed.notified() => Err(self.failure().unwrap_or_else(|| ConnectorError::new(
                Fault::Protocol,
                "the connection to the server failed",
                "check that it is a MongoDB server",
            ))),
        }
    }

    pub fn failure(&self) -> Option<ConnectorError> {
        self.failure.lock().ok().and_then(|f| f.clone())
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.task.abort();
        let _ = std::fs::remove_file(&self.path);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Carries one connection: the driver's messages as they come, the server's one
/// message at a time, each read whole (up to `max_message` bytes) and its documents
/// checked (`wire.rs`) before the driver sees a byte of it.
async fn carry<D, U>(
    down: &mut D,
    up: &mut U,
    max_message: usize,
    host: &str,
) -> Result<(), ConnectorError>
where
    D: AsyncRead + AsyncWrite + Unpin,
    U: AsyncRead + AsyncWrite + Unpin,
{
    let (mut down_read, mut down_write) = tokio::io::split(down);
    let (mut up_read, mut up_write) = tokio::io::split(up);
    let to_server = async {
        let _ = tokio::io::copy(&mut down_read, &mut up_write).await;
        let _ = up_write.shutdown().await;
        Ok::<(), ConnectorError>(())
    };
    let to_driver = async {
        let mut header = [0u8; 16];
        // Under TLS 1.3 a server refuses a client certificate after the handshake
        // has finished on the client's side: the refusal is the first read's error.
        let refused = |e: std::io::Error| match crate::egress::tls::find_rustls_error(&e) {
            Some(tls) => Err(crate::egress::tls::tls_failure(host, tls, None)),
            None => Ok(()),
        };
        loop {
            if let Err(e) = up_read.read_exact(&mut header).await {
                return refused(e);
            }
            let length = super::wire::message_length(&header);
            if length < 16 || length as usize > max_message {
                return Err(ConnectorError::new(
                    Fault::Limit,
                    format!(
                        "the server announced a message of {length} bytes, over the limit of {max_message} (target_response_max_bytes)"
                    ),
                    "the server sent more than any catalog listing needs: check that it is a MongoDB server",
                ));
            }
            let mut body = vec![0u8; length as usize - 16];
            if let Err(e) = up_read.read_exact(&mut body).await {
                return refused(e);
            }
            let op_code = i32::from_le_bytes([header[12], header[13], header[14], header[15]]);
            super::wire::check_message(op_code, &body).map_err(|why| {
                ConnectorError::new(
                    Fault::Protocol,
                    why,
                    "the server's answer is not one MongoDB sends: check that it is a MongoDB server",
                )
            })?;
            if down_write.write_all(&header).await.is_err()
                || down_write.write_all(&body).await.is_err()
            {
                return Ok(());
            }
        }
    };
    // Either side ending ends the connection.
    tokio::select! {
        r = to_server => r,
        r = to_driver => r,
    }
}
