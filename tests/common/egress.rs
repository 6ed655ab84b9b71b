//! Shared by the egress tests: a resolver the test controls and a connector that
//! records every address it is asked to reach.

#![allow(dead_code)]

use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use futures::future::BoxFuture;
use onramp::egress::{Connector, Resolver};
use tokio::net::{TcpListener, TcpStream};

/// Maps names to a sequence of answers: the n-th lookup of a name gets the n-th
/// answer (the last one repeats), as a rebinding DNS server would.
#[derive(Default)]
pub struct ScriptedResolver {
    pub answers: Mutex<HashMap<String, Vec<Vec<SocketAddr>>>>,
    pub lookups: Mutex<Vec<String>>,
    /// SRV records: record name to its (target, port) list.
    pub srv: Mutex<HashMap<String, Vec<(String, u16)>>>,
}

impl ScriptedResolver {
    pub fn answer(&self, name: &str, answers: &[&[&str]]) {
        let parsed = answers
            .iter()
            .map(|a| {
                a.iter()
                    .map(|ip| SocketAddr::new(ip.parse().unwrap(), 0))
                    .collect()
            })
            .collect();
        self.answers
            .lock()
            .unwrap()
            .insert(name.to_string(), parsed);
    }

    pub fn answer_srv(&self, record: &str, targets: &[(&str, u16)]) {
        self.srv.lock().unwrap().insert(
            record.to_string(),
            targets.iter().map(|(h, p)| (h.to_string(), *p)).collect(),
        );
    }

    pub fn lookups_of(&self, name: &str) -> usize {
        self.lookups
            .lock()
            .unwrap()
            .iter()
            .filter(|n| *n == name)
            .count()
    }
}

impl Resolver for ScriptedResolver {
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> BoxFuture<'a, io::Result<Vec<SocketAddr>>> {
        Box::pin(async move {
            let mut lookups = self.lookups.lock().unwrap();
            let n = lookups.iter().filter(|h| *h == host).count();
            lookups.push(host.to_string());
            let answers = self.answers.lock().unwrap();
            let Some(list) = answers.get(host) else {
                return Err(io::Error::new(
                    io::ErrorKind::NotFound,
                    "no such name in the test resolver",
                ));
            };
            let answer = list.get(n).or(list.last()).cloned().unwrap_or_default();
            Ok(answer
                .into_iter()
                .map(|a| SocketAddr::new(a.ip(), port))
                .collect())
        })
    }

    fn resolve_srv<'a>(&'a self, record: &'a str) -> BoxFuture<'a, io::Result<Vec<(String, u16)>>> {
        Box::pin(async move {
            self.lookups.lock().unwrap().push(record.to_string());
            self.srv
                .lock()
                .unwrap()
                .get(record)
                .cloned()
                .ok_or_else(|| {
                    io::Error::new(
                        io::ErrorKind::NotFound,
                        "no such SRV record in the test resolver",
                    )
                })
        })
    }
}

/// Connects for real (loopback only) and records every address it was given.
#[derive(Default)]
pub struct RecordingConnector {
    pub attempts: Mutex<Vec<SocketAddr>>,
}

impl RecordingConnector {
    pub fn attempts(&self) -> Vec<SocketAddr> {
        self.attempts.lock().unwrap().clone()
    }
}

impl Connector for RecordingConnector {
    fn connect(&self, addr: SocketAddr) -> BoxFuture<'_, io::Result<TcpStream>> {
        self.attempts.lock().unwrap().push(addr);
        Box::pin(async move {
            assert!(
                addr.ip().is_loopback(),
                "tests never connect beyond loopback: {addr}"
            );
            TcpStream::connect(addr).await
        })
    }
}

pub fn shared<T: Default>() -> Arc<T> {
    Arc::new(T::default())
}

/// A listener on `ip` (a loopback address) that counts the connections it accepts.
pub async fn counting_listener(ip: &str) -> (u16, Arc<AtomicUsize>) {
    let listener = TcpListener::bind((ip, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = Arc::new(AtomicUsize::new(0));
    let counter = seen.clone();
    tokio::spawn(async move {
        while let Ok((_s, _)) = listener.accept().await {
            counter.fetch_add(1, Ordering::SeqCst);
        }
    });
    (port, seen)
}

pub fn seen(counter: &AtomicUsize) -> usize {
    counter.load(Ordering::SeqCst)
}
