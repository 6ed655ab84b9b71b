//! The webhook receiver of the tests (tests/servers/webhooks/receiver.py): a Python
//! process that verifies each delivery's signature with the `standardwebhooks`
//! package and parses it with the CloudEvents SDK, as a customer's receiver would.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncBufReadExt, BufReader};

pub const VENV_PYTHON: &str = "/var/lib/onramp-webhooks/bin/python";

pub struct Receiver {
    pub port: u16,
    client: reqwest::Client,
    _child: tokio::process::Child,
}

impl Receiver {
    pub async fn start() -> Receiver {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/servers/webhooks/receiver.py"
        );
        let mut child = tokio::process::Command::new(VENV_PYTHON)
            .args([script, "--port", "0"])
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("the receiver's virtualenv exists (scripts/test-servers.sh makes it)");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let first = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the receiver starts")
            .unwrap()
            .expect("the receiver prints its port");
        let port = first
            .strip_prefix("listening ")
            .and_then(|p| p.trim().parse().ok())
            .unwrap_or_else(|| panic!("unexpected first line {first:?}"));
        Receiver {
            port,
            client: reqwest::Client::new(),
            _child: child,
        }
    }

    pub fn url(&self, endpoint: &str) -> String {
        format!("http://127.0.0.1:{}/hook/{endpoint}", self.port)
    }

    async fn put(&self, path: &str, body: Value) {
        let r = self
            .client
            .put(format!("http://127.0.0.1:{}{path}", self.port))
            .json(&body)
            .send()
            .await
            .unwrap();
        assert!(r.status().is_success(), "{path}: {}", r.status());
    }

    pub async fn secrets(&self, endpoint: &str, secrets: &[&str]) {
        self.put(
            &format!("/_secrets/{endpoint}"),
            json!({"secrets": secrets}),
        )
        .await;
    }

    pub async fn behave(&self, endpoint: &str, behaviour: Value) {
        self.put(&format!("/_behaviour/{endpoint}"), behaviour)
            .await;
    }

    pub async fn received(&self, endpoint: &str) -> Vec<Value> {
        self.client
            .get(format!(
                "http://127.0.0.1:{}/_received/{endpoint}",
                self.port
            ))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// Waits for at least `n` deliveries to `endpoint`.
    pub async fn wait_for(&self, endpoint: &str, n: usize, limit: Duration) -> Vec<Value> {
        let until = tokio::time::Instant::now() + limit;
        loop {
            let got = self.received(endpoint).await;
            if got.len() >= n || tokio::time::Instant::now() > until {
                return got;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}
