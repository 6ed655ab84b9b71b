//! A loopback TCP proxy the test controls: cut it (new and open connections are
//! closed at once), restore it, or make it silent (accept and never answer).

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};

use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

const OPEN: u8 = 0;
const CUT: u8 = 1;
const SILENT: u8 = 2;
const PAUSED: u8 = 3;

pub struct Proxy {
    pub port: u16,
    mode: Arc<AtomicU8>,
    generation: watch::Sender<u64>,
    resumed: Arc<tokio::sync::Notify>,
    task: tokio::task::JoinHandle<()>,
}

impl Proxy {
    pub async fn start(target: &str) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let mode = Arc::new(AtomicU8::new(OPEN));
        let (generation, _) = watch::channel(0u64);
        let target = target.to_string();
        let resumed = Arc::new(tokio::sync::Notify::new());
        let (m, g, r) = (mode.clone(), generation.clone(), resumed.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((mut inbound, _)) = listener.accept().await else {
                    continue;
                };
                match m.load(Ordering::SeqCst) {
                    CUT => {
                        let _ = inbound.shutdown().await;
                        continue;
                    }
                    SILENT => {
                        // Hold the socket open, say nothing.
                        tokio::spawn(async move {
                            tokio::time::sleep(std::time::Duration::from_secs(600)).await;
                            drop(inbound);
                        });
                        continue;
                    }
                    _ => {}
                }
                let target = target.clone();
                let mut cut = g.subscribe();
                let (m, r) = (m.clone(), r.clone());
                tokio::spawn(async move {
                    // A paused proxy holds the client until it is restored.
                    while m.load(Ordering::SeqCst) == PAUSED {
                        let notified = r.notified();
                        if m.load(Ordering::SeqCst) != PAUSED {
                            break;
                        }
                        notified.await;
                    }
                    let Ok(mut outbound) = TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Proxy {
            port,
            mode,
            generation,
            resumed,
            task,
        }
    }

    pub fn addr(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// Closes every open connection and refuses service until `restore`.
    pub fn cut(&self) {
        self.mode.store(CUT, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    /// New connections are accepted and never answered; open ones are closed.
    pub fn silence(&self) {
        self.mode.store(SILENT, Ordering::SeqCst);
        self.generation.send_modify(|g| *g += 1);
    }

    /// New connections are accepted and held, then forwarded once restored.
    pub fn pause(&self) {
        self.mode.store(PAUSED, Ordering::SeqCst);
    }

    pub fn restore(&self) {
        self.mode.store(OPEN, Ordering::SeqCst);
        self.resumed.notify_waiters();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A server that accepts TCP connections and never sends a byte.
pub async fn silent_server() -> (u16, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((s, _)) = listener.accept().await {
            held.push(s);
        }
    });
    (port, task)
}

/// A loopback port with nothing listening on it.
pub async fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    port
}

/// What a counting silent server has seen: connections open now, the most open at
/// once, and how many it accepted in all.
#[derive(Clone, Default)]
pub struct Held {
    pub open: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    pub most: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    pub total: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

/// A server on `ip` that accepts TCP connections and never sends a byte, counting
/// them until each client gives up and closes.
pub async fn counting_silent_server(ip: &str) -> (u16, Held) {
    use std::sync::atomic::Ordering;
    use tokio::io::AsyncReadExt;
    let listener = TcpListener::bind((ip, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let held = Held::default();
    let seen = held.clone();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let now = seen.open.fetch_add(1, Ordering::SeqCst) + 1;
            seen.most.fetch_max(now, Ordering::SeqCst);
            seen.total.fetch_add(1, Ordering::SeqCst);
            let open = seen.open.clone();
            tokio::spawn(async move {
                let mut buf = [0u8; 1024];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 {
                        break;
                    }
                }
                open.fetch_sub(1, Ordering::SeqCst);
            });
        }
    });
    (port, held)
}
