//! SSH tunnels: a target reached through the customer's bastion. The bastion's
//! address goes through the guard like any target; the target is then reached from
//! the bastion with direct-tcpip channels, so its address is the customer's network's
//! business, not onramp's policy's. A tunnel belongs to one job and is never reused:
//! a job whose tunnel broke fails, and the next one opens its own.

mod forward;
pub mod keys;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use russh::client::{self, AuthResult, Handle, Msg};
use russh::keys::{HashAlg, PrivateKeyWithHashAlg, PublicKeyOrCertificate};
use russh::{ChannelOpenFailure, ChannelStream};
use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;

use super::Egress;
use super::budget::Budgeted;
use crate::domain::{ConnectorError, Fault};

/// How often an idle tunnel proves it is alive, and how many unanswered proofs end it.
const KEEPALIVE: Duration = Duration::from_secs(10);
const KEEPALIVE_MAX: usize = 3;
/// The longest a bastion may take to open (or refuse) one channel.
const CHANNEL_OPEN_TIMEOUT: Duration = Duration::from_secs(15);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum AuthMethod {
    #[serde(rename = "key")]
    Key,
    #[serde(rename = "password")]
    Password,
    #[serde(rename = "key+password")]
    KeyAndPassword,
}

/// `credentials.tunnel`, as validated.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TunnelSettings {
    pub host: String,
    pub port: u16,
    pub username: String,
    pub auth: AuthMethod,
    pub private_key: Option<SecretString>,
    pub passphrase: Option<SecretString>,
    pub password: Option<SecretString>,
    pub host_key_fingerprint: Option<String>,
}

impl TunnelSettings {
    pub fn bastion(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

/// An open, authenticated tunnel.
pub struct Tunnel {
    handle: Arc<Handle<HostKeyCheck>>,
    bastion: String,
    fingerprint: String,
    /// The most one channel reads from the target.
    read_budget: usize,
    /// Loopback forwards for drivers that dial by themselves: where each listens,
    /// and the target it leads to.
    forwards: Mutex<Vec<(SocketAddr, String, u16)>>,
    socks: Mutex<Option<String>>,
    /// The last channel the bastion refused: a driver behind a forward or the SOCKS
    /// front sees only a closed socket, the job's message says why.
    refused: Arc<Mutex<Option<ConnectorError>>>,
    tasks: Arc<Mutex<Vec<tokio::task::AbortHandle>>>,
}

impl Drop for Tunnel {
    fn drop(&mut self) {
        for t in self.tasks.lock().map(|t| t.clone()).unwrap_or_default() {
            t.abort();
        }
    }
}

struct HostKeyCheck {
    expected: Option<String>,
    presented: Arc<Mutex<Option<String>>>,
}

impl client::Handler for HostKeyCheck {
    type Error = russh::Error;

    async fn check_server_key(
        &mut self,
        key: &PublicKeyOrCertificate,
    ) -> Result<bool, Self::Error> {
        let fingerprint = match key {
            PublicKeyOrCertificate::PublicKey { key, .. } => key.fingerprint(HashAlg::Sha256),
            PublicKeyOrCertificate::Certificate(cert) => {
                cert.public_key().fingerprint(HashAlg::Sha256)
            }
        }
        .to_string();
        let trusted = self
            .expected
            .as_deref()
            .is_none_or(|e| e.trim_end_matches('=') == fingerprint);
        if let Ok(mut p) = self.presented.lock() {
            *p = Some(fingerprint);
        }
        Ok(trusted)
    }
}

/// Opens a tunnel to the bastion: the guard's socket, the host key checked against
/// `expected` (given by the user, or pinned by an earlier job), then the login.
pub async fn open(
    egress: &Egress,
    s: &TunnelSettings,
    expected: Option<&str>,
) -> Result<Tunnel, ConnectorError> {
    let key = match s.auth {
        AuthMethod::Password => None,
        AuthMethod::Key | AuthMethod::KeyAndPassword => Some(read_key(s).await?),
    };
    let bastion = s.bastion();
    // Each channel is held to the read budget (`Net`, the forwards, the SOCKS
    // front), so that an overrun names the limit; the transport carrying them is not.
    let connected = egress.connect(&s.host, s.port).await;
    let stream = connected.map(Budgeted::into_inner).map_err(|e| {
        if e.fault == Fault::Egress {
            return e;
        }
        ConnectorError::new(
            e.fault,
            format!("the bastion {bastion} is unreachable: {}", e.message),
            "check the tunnel's host and port, and that the bastion accepts SSH connections from onramp's workers",
        )
    })?;
    let presented = Arc::new(Mutex::new(None));
    let handler = HostKeyCheck {
        expected: expected.map(str::to_string),
        presented: presented.clone(),
    };
    let config = Arc::new(client::Config {
        keepalive_interval: Some(KEEPALIVE),
        keepalive_max: KEEPALIVE_MAX,
        nodelay: true,
        ..Default::default()
    });
    let shown = || presented.lock().ok().and_then(|p| p.clone());
    let mut handle = client::connect_stream(config, stream, handler)
        .await
        .map_err(|e| match (e, expected, shown()) {
            (russh::Error::UnknownKey, Some(expected), Some(presented)) => ConnectorError::new(
                Fault::Authentication,
                format!(
                    "the bastion {bastion} presented host key {presented}, not the expected {expected}"
                ),
                "if the bastion's host key was changed on purpose, update the datasource with tunnel.hostKeyFingerprint set to the new fingerprint (ssh-keygen -lf on the bastion's host key); otherwise something is intercepting the connection",
            ),
            (e, _, _) => ConnectorError::new(
                Fault::Protocol,
                format!("the ssh handshake with the bastion {bastion} failed: {e}"),
                "check that the tunnel's port belongs to an SSH server",
            ),
        })?;
    let fingerprint = shown().unwrap_or_default();
    authenticate(&mut handle, s, key).await?;
    Ok(Tunnel {
        handle: Arc::new(handle),
        bastion,
        fingerprint,
        read_budget: egress.read_budget(),
        forwards: Mutex::new(Vec::new()),
        socks: Mutex::new(None),
        refused: Arc::new(Mutex::new(None)),
        tasks: Arc::new(Mutex::new(Vec::new())),
    })
}

/// Key decryptions running at once in this process: each is up to a second of a
/// core, and a burst of jobs must not take every core from the rest.
static DECRYPTING: tokio::sync::Semaphore = tokio::sync::Semaphore::const_new(2);

/// Reads the private key on a blocking thread: decrypting it is CPU work.
async fn read_key(s: &TunnelSettings) -> Result<russh::keys::PrivateKey, ConnectorError> {
    let pem = s
        .private_key
        .as_ref()
        .map(|k| k.expose_secret().to_string())
        .unwrap_or_default();
    let passphrase = s.passphrase.as_ref().map(|p| p.expose_secret().to_string());
    let _turn = DECRYPTING.acquire().await.map_err(|_| {
        ConnectorError::new(Fault::Protocol, "the key reader is closed", "this is a bug")
    })?;
    let read = tokio::task::spawn_blocking(move || keys::read(&pem, passphrase.as_deref()));
    match read.await {
        Ok(Ok(key)) => Ok(key),
        Ok(Err(problem)) => Err(ConnectorError::new(
            Fault::Authentication,
            format!("tunnel.privateKey {}", problem.text()),
            "give the private key in PEM or OpenSSH format, with tunnel.passphrase when it is encrypted",
        )),
        // A panic is the job's to report (as an internal error, its text in the log
        // only), not this step's message.
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(_) => Err(ConnectorError::new(
            Fault::Protocol,
            "reading tunnel.privateKey was cancelled",
            "try again",
        )),
    }
}

async fn authenticate(
    handle: &mut Handle<HostKeyCheck>,
    s: &TunnelSettings,
    key: Option<russh::keys::PrivateKey>,
) -> Result<(), ConnectorError> {
    let password = || {
        s.password
            .as_ref()
            .map(|p| p.expose_secret().to_string())
            .unwrap_or_default()
    };
    let failed = |e: russh::Error| {
        ConnectorError::new(
            Fault::Protocol,
            format!("ssh login to the bastion {} failed: {e}", s.bastion()),
            "check that the tunnel's port belongs to an SSH server",
        )
    };
    let mut result = match key {
        Some(key) => {
            // RSA signs with SHA-2 unless the server says it knows only ssh-rsa
            // (SHA-1, which OpenSSH 8.8 and later refuse); a server that says
            // nothing gets SHA-256.
            let hash = if key.algorithm().is_rsa() {
                match handle.best_supported_rsa_hash().await.map_err(failed)? {
                    Some(hash) => hash,
                    None => Some(HashAlg::Sha256),
                }
            } else {
                None
            };
            let key = PrivateKeyWithHashAlg::new(Arc::new(key), hash);
            handle
                .authenticate_publickey(&s.username, key)
                .await
                .map_err(failed)?
        }
        None => handle
            .authenticate_password(&s.username, password())
            .await
            .map_err(failed)?,
    };
    // key+password: the key is accepted with "partial success", then the password.
    if let (
        AuthMethod::KeyAndPassword,
        AuthResult::Failure {
            partial_success: true,
            ..
        },
    ) = (s.auth, &result)
    {
        result = handle
            .authenticate_password(&s.username, password())
            .await
            .map_err(failed)?;
    }
    match result {
        AuthResult::Success => Ok(()),
        AuthResult::Failure {
            remaining_methods,
            partial_success,
        } => {
            let offered: Vec<&str> = remaining_methods.iter().map(<&str>::from).collect();
            let offered = if offered.is_empty() {
                "none".to_string()
            } else {
                offered.join(", ")
            };
            let tried = match s.auth {
                AuthMethod::Key => "key",
                AuthMethod::Password => "password",
                AuthMethod::KeyAndPassword => "key and password",
            };
            let message = if partial_success {
                format!(
                    "the bastion {} accepted the {tried} of {} but asks for more: it offers {offered}",
                    s.bastion(),
                    s.username
                )
            } else {
                format!(
                    "the bastion {} refused {tried} authentication as {}; it offers {offered}",
                    s.bastion(),
                    s.username
                )
            };
            Err(ConnectorError::new(
                Fault::Authentication,
                message,
                "check tunnel.username and its key or password; a bastion that asks for a key and a password needs auth \"key+password\"",
            ))
        }
    }
}

impl Tunnel {
    /// The bastion's host key, as `ssh-keygen -lf` prints it.
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    pub fn bastion(&self) -> &str {
        &self.bastion
    }

    /// Whether the connection to the bastion has ended.
    pub fn is_broken(&self) -> bool {
        self.handle.is_closed()
    }

    /// A channel from the bastion to `host:port`.
    pub async fn channel(
        &self,
        host: &str,
        port: u16,
    ) -> Result<ChannelStream<Msg>, ConnectorError> {
        open_channel(&self.handle, &self.bastion, host, port).await
    }

    /// The target a forward listening at `addr` leads to.
    pub fn forwarded(&self, addr: SocketAddr) -> Option<(String, u16)> {
        self.forwards
            .lock()
            .ok()?
            .iter()
            .find(|(a, ..)| *a == addr)
            .map(|(_, h, p)| (h.clone(), *p))
    }

    /// What to say when a step failed behind this tunnel: the bastion's refusal of
    /// the channel, or the tunnel's end, rather than the driver's closed socket.
    pub async fn explain(&self, e: ConnectorError) -> ConnectorError {
        if !matches!(
            e.fault,
            Fault::Protocol | Fault::Unreachable | Fault::Timeout
        ) {
            return e;
        }
        // The refusal explains this failure once; a later one is its own.
        if let Some(refused) = self.refused.lock().ok().and_then(|mut r| r.take()) {
            return refused;
        }
        // A driver may see its channel end a moment before the session notices the
        // connection is gone.
        for _ in 0..10 {
            if self.is_broken() {
                return ConnectorError::new(
                    Fault::Unreachable,
                    format!(
                        "the ssh tunnel through {} closed: {}",
                        self.bastion, e.message
                    ),
                    "this is usually transient (the bastion restarted or the network dropped): sync the datasource again, and a new tunnel is opened",
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        e
    }

    /// Closes the connection to the bastion politely. A bastion that stops reading
    /// cannot hold the job: the goodbye waits 2 s at most, and dropping the tunnel
    /// ends the session either way.
    pub async fn close(&self) {
        let bye = self
            .handle
            .disconnect(russh::Disconnect::ByApplication, "job finished", "en");
        let _ = tokio::time::timeout(Duration::from_secs(2), bye).await;
    }

    pub fn read_budget(&self) -> usize {
        self.read_budget
    }

    fn keep(&self, task: tokio::task::AbortHandle) {
        if let Ok(mut t) = self.tasks.lock() {
            t.push(task);
        }
    }
}

async fn open_channel(
    handle: &Handle<HostKeyCheck>,
    bastion: &str,
    host: &str,
    port: u16,
) -> Result<ChannelStream<Msg>, ConnectorError> {
    let refused = |why: String| {
        ConnectorError::new(
            Fault::Unreachable,
            format!("the bastion {bastion} could not open a channel to {host}:{port}: {why}"),
            "check that the target's host and port are reachable from the bastion, and that its sshd allows TCP forwarding there (AllowTcpForwarding, PermitOpen)",
        )
    };
    if handle.is_closed() {
        return Err(ConnectorError::new(
            Fault::Unreachable,
            format!("the ssh tunnel through {bastion} closed"),
            "sync the datasource again: a new tunnel is opened",
        ));
    }
    let open = handle.channel_open_direct_tcpip(host, u32::from(port), "127.0.0.1", 0);
    match tokio::time::timeout(CHANNEL_OPEN_TIMEOUT, open).await {
        Ok(Ok(channel)) => Ok(channel.into_stream()),
        Ok(Err(russh::Error::ChannelOpenFailure(why))) => Err(refused(match why {
            ChannelOpenFailure::AdministrativelyProhibited => {
                "administratively prohibited (the bastion forbids forwarding there)".into()
            }
            ChannelOpenFailure::ConnectFailed => {
                "connect failed (nothing accepted the connection from the bastion)".into()
            }
            other => format!("{other:?}"),
        })),
        Ok(Err(e)) => Err(refused(e.to_string())),
        Err(_) => Err(refused(format!(
            "no answer within {} s",
            CHANNEL_OPEN_TIMEOUT.as_secs()
        ))),
    }
}
