//! What the Rust benchmarks share: the release binary, a target database on the
//! local PostgreSQL, `onramp` processes with an isolated prefix and database, an
//! events subscriber, and percentiles.

#![allow(dead_code)]

use std::process::Stdio;
use std::time::Duration;

use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use tokio::process::{Child, Command};

pub const ONRAMP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/release/onramp");
pub const AMQP: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

pub fn psql(db: &str, sql: &str) -> String {
    psql_at(5432, db, sql)
}

/// `psql` against the PostgreSQL on loopback port `port`.
pub fn psql_at(port: u16, db: &str, sql: &str) -> String {
    let port = port.to_string();
    let out = std::process::Command::new("psql")
        .args([
            "-X",
            "-q",
            "-At",
            "-h",
            "127.0.0.1",
            "-p",
            &port,
            "-U",
            "postgres",
            "-d",
            db,
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .output()
        .expect("psql runs");
    assert!(
        out.status.success(),
        "{sql}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A database of `tables` small tables (a key, four columns, a foreign key chain).
pub fn target_database(name: &str, tables: usize) {
    target_database_at(5432, name, tables)
}

/// The same, in the PostgreSQL on loopback port `port`.
pub fn target_database_at(port: u16, name: &str, tables: usize) {
    let psql = |db: &str, sql: &str| psql_at(port, db, sql);
    if psql(
        "postgres",
        &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'"),
    ) == "0"
    {
        psql("postgres", &format!("CREATE DATABASE {name}"));
        for t in 0..tables {
            let parent = if t > 0 {
                format!(", parent_id int REFERENCES t{} (id)", t - 1)
            } else {
                String::new()
            };
            psql(
                name,
                &format!(
                    "CREATE TABLE t{t} (id int PRIMARY KEY, name text NOT NULL, amount numeric(10,2), at timestamptz DEFAULT now(){parent})"
                ),
            );
        }
    }
}

/// Settings for onramp processes of one benchmark run: their own database and names.
pub struct Instance {
    pub prefix: String,
    pub env: Vec<(String, String)>,
}

impl Instance {
    pub fn new(label: &str, extra: &[(&str, &str)]) -> Instance {
        let prefix = format!("{label}{}", &uuid::Uuid::new_v4().simple().to_string()[..8]);
        let key: [u8; 32] = rand::random();
        use base64::Engine;
        let mut env = vec![
            (
                "ONRAMP_DATABASE_URL".to_string(),
                format!("postgres://postgres@localhost/onramp_{prefix}?host=/var/run/postgresql"),
            ),
            ("ONRAMP_PREFIX".to_string(), prefix.clone()),
            (
                "ONRAMP_SECRET_KEY".to_string(),
                base64::engine::general_purpose::STANDARD.encode(key),
            ),
            ("RUST_LOG".to_string(), "warn".to_string()),
            // The benchmarks measure onramp's own machinery against one local target:
            // the fairness limits (per organisation, per host) would measure themselves.
            // A benchmark that measures them sets its own.
            (
                "ONRAMP_ORG_MAX_CONCURRENT_JOBS".to_string(),
                "100000".to_string(),
            ),
            (
                "ONRAMP_TARGET_MAX_CONCURRENT_JOBS".to_string(),
                "100000".to_string(),
            ),
        ];
        for (k, v) in extra {
            env.push((k.to_string(), v.to_string()));
        }
        Instance { prefix, env }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(ONRAMP);
        c.args(args)
            .envs(self.env.iter().cloned())
            .kill_on_drop(true);
        c
    }

    /// Runs a one-shot command (migrate, token create) and returns its standard output.
    pub async fn once(&self, args: &[&str]) -> String {
        let out = self
            .command(args)
            .stderr(Stdio::inherit())
            .output()
            .await
            .expect("onramp runs");
        assert!(out.status.success(), "onramp {args:?} failed");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    }

    pub fn spawn(&self, args: &[&str]) -> Child {
        self.command(args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("onramp starts")
    }

    /// Drops the instance's database (its queues go with the broker's auto-delete or stay
    /// under the prefix, which scripts/test-servers.sh does not touch).
    pub fn cleanup(&self) {
        psql(
            "postgres",
            &format!(
                "DROP DATABASE IF EXISTS onramp_{} WITH (FORCE)",
                self.prefix
            ),
        );
    }
}

/// Waits until `url` answers 200.
pub async fn wait_ready(url: &str) {
    let client = reqwest::Client::new();
    for _ in 0..300 {
        if let Ok(r) = client.get(url).send().await
            && r.status().is_success()
        {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("{url} did not become ready");
}

/// Counts `datasource.ready` events on the instance's exchange, in a task.
pub async fn count_ready(
    prefix: &str,
    wanted: usize,
) -> tokio::sync::oneshot::Receiver<std::time::Instant> {
    let conn = lapin::Connection::connect(AMQP, Default::default())
        .await
        .unwrap();
    let ch = conn.create_channel().await.unwrap();
    let exchange = format!("{prefix}.events");
    ch.exchange_declare(
        exchange.as_str().into(),
        lapin::ExchangeKind::Topic,
        ExchangeDeclareOptions {
            durable: true,
            ..Default::default()
        },
        FieldTable::default(),
    )
    .await
    .unwrap();
    let q = ch
        .queue_declare(
            "".into(),
            QueueDeclareOptions {
                exclusive: true,
                auto_delete: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .unwrap();
    ch.queue_bind(
        q.name().clone(),
        exchange.as_str().into(),
        "*.datasource.ready".into(),
        QueueBindOptions::default(),
        FieldTable::default(),
    )
    .await
    .unwrap();
    let mut consumer = ch
        .basic_consume(
            q.name().clone(),
            "bench".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let (done, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let _keep = conn;
        let mut seen = 0;
        while let Some(Ok(delivery)) = consumer.next().await {
            let _ = delivery.ack(BasicAckOptions::default()).await;
            seen += 1;
            if seen == wanted {
                let _ = done.send(std::time::Instant::now());
                return;
            }
        }
    });
    rx
}

/// The value at `p` (0..=100) of sorted samples.
pub fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Resident memory of a process, in KiB, from /proc.
pub fn rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// CPU seconds a process has used so far (user + system), from /proc.
pub fn cpu_seconds(pid: u32) -> f64 {
    let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
        return 0.0;
    };
    // Fields after the command name (which may hold spaces) start at index 2.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = fields.get(11).and_then(|v| v.parse().ok()).unwrap_or(0.0)
        + fields.get(12).and_then(|v| v.parse().ok()).unwrap_or(0.0);
    ticks / 100.0
}

/// CPU seconds the whole machine has been busy (all cores), from /proc/stat.
pub fn machine_busy_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let cpu: Vec<f64> = stat
        .lines()
        .next()
        .unwrap_or("")
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal: busy is all but idle and iowait.
    let busy: f64 = cpu
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != 3 && *i != 4)
        .map(|(_, v)| v)
        .sum();
    busy / 100.0
}

/// The pids of processes whose command name is `name`.
pub fn pids_named(name: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|n| n.parse::<u32>().ok()))
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm"))
                .map(|c| c.trim() == name)
                .unwrap_or(false)
        })
        .collect()
}
