//! The chaos driver: thousands of creates against loopback targets of every kind
//! (answering, slow, refusing, silent, at their connection limit) while workers are
//! killed and replaced, the connections to RabbitMQ, Redis and PostgreSQL are cut
//! and restored, and the API restarts; then it checks the promise: every accepted
//! job ends, none ends twice, every success has its ready event and its snapshot.
//! `bench/chaos.rs` runs it as a benchmark, `tests/chaos.rs` in a short mode with
//! the zero-loss assertions. Everything it starts talks to loopback only.

use std::collections::{HashMap, HashSet};
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, ExchangeDeclareOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::FieldTable;
use rand::Rng;
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::process::Child;

use crate::common;
use crate::proxy::{Proxy, closed_port};

pub const TARGET_DB: &str = "bench_chaos10";
const LIMITED_ROLE: &str = "chaos_limited";

pub struct Config {
    /// Creates of organisation A, submitted as fast as `in_flight` allows.
    pub creates: usize,
    pub in_flight: usize,
    pub workers: usize,
    /// The onramp binary to run.
    pub binary: String,
    /// Organisation A's creates are spread over this long (at a steady rate), so the
    /// faults fall on jobs in every state.
    pub submit_over: Duration,
    /// Faults go on at least this long (and until A's creates are all in).
    pub fault_for: Duration,
    /// Pause between faults, at random in this range (ms).
    pub fault_every_ms: (u64, u64),
    /// How long the jobs may take to end after the last fault.
    pub drain_limit: Duration,
}

#[derive(Debug, Default, serde::Serialize)]
pub struct Report {
    pub accepted: usize,
    /// Of organisation A's creates, how many were accepted (all must be).
    pub a_accepted: usize,
    /// The most connections the silent host held at once (the per-host limit).
    pub most_at_one_host: usize,
    /// Failed jobs without a `datasource.failed` event.
    pub failed_without_event: usize,
    pub succeeded: usize,
    pub failed_by_target: usize,
    pub failed_otherwise: usize,
    pub lost: usize,
    pub completed_twice: usize,
    pub min_ready_events_per_success: usize,
    pub duplicate_ready_deliveries: usize,
    pub duplicate_ready_with_other_ids: usize,
    pub stale_snapshots: usize,
    pub drain_ms: u64,
    pub run_ms: u64,
    pub faults: HashMap<String, usize>,
    pub b_samples: usize,
    pub b_start_p50_ms: f64,
    pub b_start_p99_ms: f64,
    /// The same, of B's creates made away from any fault (none within 0.5 s before
    /// it began or 3 s after it ended): the fairness figure itself.
    pub b_quiet_samples: usize,
    pub b_quiet_p50_ms: f64,
    pub b_quiet_p99_ms: f64,
    /// The same, of B's creates made while A's jobs waited their turn in the outbox
    /// and away from faults: fairness itself.
    pub b_behind_backlog_samples: usize,
    pub b_behind_backlog_p99_ms: f64,
    pub lost_jobs: Vec<String>,
}

/// Accepts, waits `delay`, then carries the connection to `target`: a server far away.
async fn delaying_proxy(on: &str, target: &'static str, delay: Duration) -> u16 {
    let listener = TcpListener::bind((on, 0)).await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                if let Ok(mut outbound) = TcpStream::connect(target).await {
                    let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                } else {
                    let _ = inbound.shutdown().await;
                }
            });
        }
    });
    port
}

/// The kinds of target, in the proportions of a hard day: mostly answering.
#[derive(Clone, Copy, Debug)]
enum Kind {
    Direct,
    Delayed,
    Refusing,
    Silent,
    Limited,
}

fn kind_of(i: usize) -> Kind {
    match i % 10 {
        0..=4 => Kind::Direct,
        5 | 6 => Kind::Delayed,
        7 => Kind::Refusing,
        8 => Kind::Silent,
        _ => Kind::Limited,
    }
}

/// The targets, on loopback addresses of their own so that the per-host limit is
/// seen at work: 127.0.0.1 (PostgreSQL itself, refusing), 127.0.0.2 (150 ms away),
/// 127.0.0.3 (silent, counting how many connections it holds at once), 127.0.0.4
/// (PostgreSQL again, for organisation B).
struct Targets {
    delayed: u16,
    refusing: u16,
    silent: u16,
    for_b: u16,
    silent_most: Arc<std::sync::atomic::AtomicUsize>,
}

impl Targets {
    fn credentials(&self, name: &str, kind: Kind) -> Value {
        let (host, port, user) = match kind {
            Kind::Direct => ("127.0.0.1", 5432, "postgres"),
            Kind::Delayed => ("127.0.0.2", self.delayed, "postgres"),
            Kind::Refusing => ("127.0.0.1", self.refusing, "postgres"),
            Kind::Silent => ("127.0.0.3", self.silent, "postgres"),
            Kind::Limited => ("127.0.0.1", 5432, LIMITED_ROLE),
        };
        self.body(name, host, port, user)
    }

    fn for_b(&self, name: &str) -> Value {
        self.body(name, "127.0.0.4", self.for_b, "postgres")
    }

    fn body(&self, name: &str, host: &str, port: u16, user: &str) -> Value {
        json!({"datasourceType": "postgres", "credentials": {"name": name, "host": host,
               "port": port, "username": user, "password": "", "database": TARGET_DB,
               "schema": "public", "sslMode": "disable"}})
    }
}

/// How an accepted job stands at the end.
#[derive(sqlx::FromRow)]
struct Ended {
    id: uuid::Uuid,
    datasource_id: uuid::Uuid,
    status: String,
    error: Option<Value>,
    started_at: Option<chrono::DateTime<chrono::Utc>>,
    created_at: chrono::DateTime<chrono::Utc>,
    org_id: uuid::Uuid,
}

/// Every event published on the instance's exchange, by job: (type, id, time).
type Seen = Arc<Mutex<HashMap<String, Vec<(String, String, String)>>>>;

async fn collect_events(prefix: &str) -> Seen {
    let conn = lapin::Connection::connect(common::AMQP, Default::default())
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
    for key in ["*.datasource.ready", "*.datasource.failed"] {
        ch.queue_bind(
            q.name().clone(),
            exchange.as_str().into(),
            key.into(),
            QueueBindOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    }
    let mut consumer = ch
        .basic_consume(
            q.name().clone(),
            "chaos".into(),
            BasicConsumeOptions::default(),
            FieldTable::default(),
        )
        .await
        .unwrap();
    let seen: Seen = Arc::default();
    let into = seen.clone();
    tokio::spawn(async move {
        let _keep = (conn, ch);
        while let Some(Ok(delivery)) = consumer.next().await {
            let _ = delivery.ack(BasicAckOptions::default()).await;
            if let Ok(event) = serde_json::from_slice::<Value>(&delivery.data) {
                let job = event["data"]["jobId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string();
                let entry = (
                    event["type"].as_str().unwrap_or_default().to_string(),
                    event["id"].as_str().unwrap_or_default().to_string(),
                    event["time"].as_str().unwrap_or_default().to_string(),
                );
                into.lock().unwrap().entry(job).or_default().push(entry);
            }
        }
    });
    seen
}

/// Posts a create until it is accepted (the API may be restarting, its database
/// cut): the same Idempotency-Key each time, so a retried create is the same one.
async fn create(
    client: &reqwest::Client,
    api: &str,
    token: &str,
    key: &str,
    body: &Value,
) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(300);
    while Instant::now() < deadline {
        let sent = client
            .post(format!("http://{api}/api/v2/datasource"))
            .bearer_auth(token)
            .header("Idempotency-Key", key)
            .json(body)
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        if let Ok(answer) = sent
            && answer.status() == 202
            && let Ok(v) = answer.json::<Value>().await
        {
            return v["jobId"].as_str().map(str::to_string);
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    None
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub async fn run(cfg: Config) -> Report {
    common::target_database(TARGET_DB, 10);
    common::psql(
        "postgres",
        &format!(
            "DO $$ BEGIN CREATE ROLE {LIMITED_ROLE} LOGIN CONNECTION LIMIT 2; EXCEPTION WHEN duplicate_object THEN NULL; END $$"
        ),
    );
    let (silent, held) = crate::proxy::counting_silent_server("127.0.0.3").await;
    let silent_most = held.most;
    let targets = Targets {
        delayed: delaying_proxy("127.0.0.2", "127.0.0.1:5432", Duration::from_millis(150)).await,
        refusing: closed_port().await,
        silent,
        for_b: delaying_proxy("127.0.0.4", "127.0.0.1:5432", Duration::ZERO).await,
        silent_most,
    };
    // onramp's own servers, reached through proxies the driver cuts.
    let (pg, amqp, redis) = (
        Proxy::start("127.0.0.1:5432").await,
        Proxy::start("127.0.0.1:5672").await,
        Proxy::start("127.0.0.1:6379").await,
    );
    let api_addr = format!("127.0.0.1:{}", free_port());
    let logs = std::env::temp_dir().join(format!("onramp-chaos-{}.log", std::process::id()));
    let log = std::fs::File::create(&logs).unwrap();
    let mut instance = common::Instance::new(
        "ch",
        &[
            ("ONRAMP_HTTP_ADDR", api_addr.as_str()),
            ("ONRAMP_WORKER_CONCURRENCY", "16"),
            ("ONRAMP_DATABASE_POOL_SIZE", "8"),
            ("ONRAMP_JOB_LEASE_MS", "4000"),
            ("ONRAMP_CONNECT_TIMEOUT_MS", "3000"),
            ("ONRAMP_DISCOVER_TIMEOUT_MS", "10000"),
            ("ONRAMP_RETRY_MAX_ATTEMPTS", "8"),
            ("ONRAMP_RETRY_BASE_DELAY_MS", "200"),
            ("ONRAMP_RETRY_MAX_DELAY_MS", "2000"),
            ("ONRAMP_RECONCILE_INTERVAL_MS", "2000"),
            ("ONRAMP_RECONCILE_AFTER_MS", "8000"),
            ("ONRAMP_OUTBOX_POLL_MS", "200"),
            // Room for another organisation beside A's backlog (3 × 16 slots).
            ("ONRAMP_ORG_MAX_CONCURRENT_JOBS", "24"),
            ("ONRAMP_TARGET_MAX_CONCURRENT_JOBS", "8"),
        ],
    );
    let prefix = instance.prefix.clone();
    instance.env.push((
        "ONRAMP_DATABASE_URL".into(),
        format!("postgres://postgres@{}/onramp_{prefix}", pg.addr()),
    ));
    instance.env.push((
        "ONRAMP_AMQP_URL".into(),
        format!("amqp://guest:guest@{}/%2f", amqp.addr()),
    ));
    instance.env.push((
        "ONRAMP_REDIS_URL".into(),
        format!("redis://{}/", redis.addr()),
    ));
    let spawn = |instance: &common::Instance, role: &str| -> Child {
        let mut c = tokio::process::Command::new(&cfg.binary);
        c.arg(role)
            .envs(instance.env.iter().cloned())
            .stdout(Stdio::null())
            .stderr(log.try_clone().unwrap())
            .kill_on_drop(true);
        c.spawn().expect("onramp starts")
    };
    // Async: the proxies these commands go through run on this runtime.
    let once = async |args: &[&str]| {
        let out = tokio::process::Command::new(&cfg.binary)
            .args(args)
            .envs(instance.env.iter().cloned())
            .output()
            .await
            .expect("onramp runs");
        assert!(
            out.status.success(),
            "onramp {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    once(&["migrate"]).await;
    let token_a = once(&["token", "create", "--org", "a"]).await;
    let token_b = once(&["token", "create", "--org", "b"]).await;
    let seen = collect_events(&prefix).await;
    let mut api = spawn(&instance, "api");
    let mut workers: Vec<Child> = (0..cfg.workers)
        .map(|_| spawn(&instance, "worker"))
        .collect();
    common::wait_ready(&format!("http://{api_addr}/readyz")).await;

    let started = Instant::now();
    let client = reqwest::Client::new();
    let submitting = Arc::new(std::sync::atomic::AtomicBool::new(true));
    // Organisation A's backlog.
    let a = {
        let (client, api_addr, token) = (client.clone(), api_addr.clone(), token_a.clone());
        let bodies: Vec<(String, Value)> = (0..cfg.creates)
            .map(|i| {
                (
                    format!("a-{i}"),
                    targets.credentials(&format!("a-{i}"), kind_of(i)),
                )
            })
            .collect();
        let in_flight = cfg.in_flight;
        let gap = cfg.submit_over / (cfg.creates.max(1) as u32);
        tokio::spawn(async move {
            let start = tokio::time::Instant::now();
            futures::stream::iter(bodies.into_iter().enumerate())
                .map(|(i, (key, body))| {
                    let (client, api_addr, token) =
                        (client.clone(), api_addr.clone(), token.clone());
                    async move {
                        tokio::time::sleep_until(start + gap * i as u32).await;
                        create(&client, &api_addr, &token, &key, &body).await
                    }
                })
                .buffer_unordered(in_flight)
                .collect::<Vec<Option<String>>>()
                .await
        })
    };
    // Organisation B: one create at a time while A's backlog runs.
    let b = {
        let (client, api_addr, token, submitting) = (
            client.clone(),
            api_addr.clone(),
            token_b.clone(),
            submitting.clone(),
        );
        let for_b = targets.for_b("b");
        let db_url =
            format!("postgres://postgres@localhost/onramp_{prefix}?host=/var/run/postgresql");
        tokio::spawn(async move {
            let db = sqlx::PgPool::connect(&db_url).await.unwrap();
            let mut ids = Vec::new();
            let mut k = 0;
            while submitting.load(std::sync::atomic::Ordering::SeqCst) {
                let mut body = for_b.clone();
                body["credentials"]["name"] = json!(format!("b-{k}"));
                // Whether A's jobs were waiting their turn as B's went in: the moments
                // the fairness figure is about.
                let backlog: i64 = sqlx::query_scalar("SELECT count(*) FROM outbox WHERE gated")
                    .fetch_one(&db)
                    .await
                    .unwrap_or(0);
                if let Some(id) = create(&client, &api_addr, &token, &format!("b-{k}"), &body).await
                {
                    ids.push((id, backlog > 0));
                }
                k += 1;
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            ids
        })
    };
    // The faults, until A's creates are all in.
    let mut faults: HashMap<String, usize> = HashMap::new();
    let mut windows: Vec<(chrono::DateTime<chrono::Utc>, chrono::DateTime<chrono::Utc>)> =
        Vec::new();
    let mut last_fault = Instant::now();
    let mut rng = rand::rng();
    let faulting = |started: Instant| !a.is_finished() || started.elapsed() < cfg.fault_for;
    while faulting(started) {
        let pause = rng.random_range(cfg.fault_every_ms.0..=cfg.fault_every_ms.1);
        tokio::time::sleep(Duration::from_millis(pause)).await;
        if !faulting(started) {
            break;
        }
        let fault_started = chrono::Utc::now();
        let fault = match rng.random_range(0..5) {
            0 => {
                let i = rng.random_range(0..workers.len());
                let _ = workers[i].start_kill();
                let _ = workers[i].wait().await;
                workers[i] = spawn(&instance, "worker");
                "worker killed and replaced"
            }
            1 => {
                amqp.cut();
                tokio::time::sleep(Duration::from_millis(rng.random_range(500..2500))).await;
                amqp.restore();
                "rabbitmq cut and restored"
            }
            2 => {
                redis.cut();
                tokio::time::sleep(Duration::from_millis(rng.random_range(500..2500))).await;
                redis.restore();
                "redis cut and restored"
            }
            3 => {
                pg.cut();
                tokio::time::sleep(Duration::from_millis(rng.random_range(500..2500))).await;
                pg.restore();
                "postgresql cut and restored"
            }
            _ => {
                let _ = api.start_kill();
                let _ = api.wait().await;
                api = spawn(&instance, "api");
                "api killed and restarted"
            }
        };
        *faults.entry(fault.to_string()).or_default() += 1;
        last_fault = Instant::now();
        windows.push((fault_started, chrono::Utc::now()));
    }
    let a_ids: Vec<String> = a.await.unwrap().into_iter().flatten().collect();
    submitting.store(false, std::sync::atomic::Ordering::SeqCst);
    let b_jobs = b.await.unwrap();
    let b_ids: Vec<String> = b_jobs.iter().map(|(id, _)| id.clone()).collect();
    let behind_backlog: HashSet<String> = b_jobs
        .iter()
        .filter(|(_, backlog)| *backlog)
        .map(|(id, _)| id.clone())
        .collect();
    let a_accepted = a_ids.len();
    let all: Vec<String> = a_ids.iter().chain(&b_ids).cloned().collect();

    // Drain: every accepted job ends.
    let db = sqlx::PgPool::connect(&format!(
        "postgres://postgres@localhost/onramp_{prefix}?host=/var/run/postgresql"
    ))
    .await
    .unwrap();
    let ids: Vec<uuid::Uuid> = all
        .iter()
        .filter_map(|s| uuid::Uuid::parse_str(s).ok())
        .collect();
    let drain_started = Instant::now();
    loop {
        let open: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM unnest($1::uuid[]) AS a(id) LEFT JOIN jobs j ON j.id = a.id
              WHERE j.id IS NULL OR j.status NOT IN ('succeeded', 'failed')",
        )
        .bind(&ids)
        .fetch_one(&db)
        .await
        .unwrap();
        if open == 0 || drain_started.elapsed() > cfg.drain_limit {
            break;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let drain_ms = last_fault.elapsed().as_millis() as u64;
    // The last events on their way.
    tokio::time::sleep(Duration::from_secs(3)).await;

    let rows: Vec<Ended> = sqlx::query_as(
            "SELECT a.id, coalesce(j.datasource_id, '00000000-0000-0000-0000-000000000000') AS datasource_id,
                    coalesce(j.status, 'missing') AS status, j.error, j.started_at,
                    coalesce(j.created_at, now()) AS created_at,
                    coalesce(j.org_id, '00000000-0000-0000-0000-000000000000') AS org_id
               FROM unnest($1::uuid[]) AS a(id) LEFT JOIN jobs j ON j.id = a.id",
        )
        .bind(&ids)
        .fetch_all(&db)
        .await
        .unwrap();
    let mut redis_conn = redis::Client::open("redis://127.0.0.1:6379/")
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let events = seen.lock().unwrap().clone();
    let mut report = Report {
        accepted: all.len(),
        faults,
        run_ms: started.elapsed().as_millis() as u64,
        min_ready_events_per_success: usize::MAX,
        ..Report::default()
    };
    let b_set: HashSet<&String> = b_ids.iter().collect();
    let mut b_latency = Vec::new();
    let mut b_quiet = Vec::new();
    let mut b_behind = Vec::new();
    let near_fault = |at: &chrono::DateTime<chrono::Utc>| {
        windows.iter().any(|(from, to)| {
            *at > *from - chrono::Duration::milliseconds(500)
                && *at < *to + chrono::Duration::seconds(3)
        })
    };
    for Ended {
        id: job,
        datasource_id: datasource,
        status,
        error,
        started_at,
        created_at,
        org_id: org,
    } in &rows
    {
        let job_text = job.to_string();
        let mine = events.get(&job_text).cloned().unwrap_or_default();
        let ready: Vec<&String> = mine
            .iter()
            .filter(|(t, _, _)| t == "datasource.ready")
            .map(|(_, id, _)| id)
            .collect();
        // The same id from two finishes (a second run computing the same outcome) has
        // another time: one finish per job means one time per id.
        let finishes: HashSet<(&String, &String)> = mine
            .iter()
            .filter(|(t, _, _)| t != "job.progress")
            .map(|(_, id, time)| (id, time))
            .collect();
        let failed: Vec<&String> = mine
            .iter()
            .filter(|(t, _, _)| t == "datasource.failed")
            .map(|(_, id, _)| id)
            .collect();
        let ready_ids: HashSet<&&String> = ready.iter().collect();
        let failed_ids: HashSet<&&String> = failed.iter().collect();
        // The metadata beside the snapshot (its key hash-tagged by organisation); only
        // the text fields (the index beside them is binary).
        let fields: Vec<Option<String>> = redis::cmd("HMGET")
            .arg(format!(
                "{prefix}:{{org:{org}}}:datasource:{datasource}:meta"
            ))
            .arg("version")
            .arg("jobId")
            .query_async(&mut redis_conn)
            .await
            .unwrap_or_default();
        let meta: HashMap<String, String> = ["version", "jobId"]
            .into_iter()
            .zip(fields)
            .filter_map(|(k, v)| Some((k.to_string(), v?)))
            .collect();
        let writes: i64 = meta
            .get("version")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        if ready_ids.len() > 1
            || failed_ids.len() > 1
            || (!ready.is_empty() && !failed.is_empty())
            || finishes.len() > 1
            || writes > 1
        {
            report.completed_twice += 1;
        }
        report.duplicate_ready_deliveries += ready.len().saturating_sub(ready_ids.len());
        report.duplicate_ready_with_other_ids += ready_ids.len().saturating_sub(1);
        match status.as_str() {
            "succeeded" => {
                report.succeeded += 1;
                report.min_ready_events_per_success =
                    report.min_ready_events_per_success.min(ready.len());
                if meta.get("jobId") != Some(&job_text) {
                    report.stale_snapshots += 1;
                }
                if !failed.is_empty() {
                    report.completed_twice += 1;
                }
            }
            "failed" => {
                let code = error
                    .as_ref()
                    .and_then(|e| e["code"].as_str())
                    .unwrap_or_default();
                let message = error
                    .as_ref()
                    .and_then(|e| e["message"].as_str())
                    .unwrap_or_default();
                let own = code == "INTERNAL_SERVER_ERROR" || message.contains("onramp's own");
                if own {
                    report.failed_otherwise += 1;
                } else {
                    report.failed_by_target += 1;
                }
                if writes > 0 {
                    report.stale_snapshots += 1;
                }
                if failed.is_empty() {
                    report.failed_without_event += 1;
                }
            }
            _ => {
                report.lost += 1;
                report.lost_jobs.push(job_text.clone());
            }
        }
        if b_set.contains(&job_text)
            && let Some(s) = started_at
        {
            let took = (*s - *created_at).num_milliseconds().max(0) as f64;
            b_latency.push(took);
            if !near_fault(created_at) {
                b_quiet.push(took);
                if behind_backlog.contains(&job_text) {
                    b_behind.push(took);
                }
            }
        }
    }
    if report.succeeded == 0 {
        report.min_ready_events_per_success = 0;
    }
    report.drain_ms = drain_ms;
    b_latency.sort_by(|x, y| x.partial_cmp(y).unwrap());
    report.b_samples = b_latency.len();
    report.b_start_p50_ms = common::percentile(&b_latency, 50.0);
    report.b_start_p99_ms = common::percentile(&b_latency, 99.0);
    b_quiet.sort_by(|x, y| x.partial_cmp(y).unwrap());
    report.b_quiet_samples = b_quiet.len();
    report.b_quiet_p50_ms = common::percentile(&b_quiet, 50.0);
    report.b_quiet_p99_ms = common::percentile(&b_quiet, 99.0);
    b_behind.sort_by(|x, y| x.partial_cmp(y).unwrap());
    report.b_behind_backlog_samples = b_behind.len();
    report.b_behind_backlog_p99_ms = common::percentile(&b_behind, 99.0);
    report.a_accepted = a_accepted;
    report.most_at_one_host = targets
        .silent_most
        .load(std::sync::atomic::Ordering::SeqCst);

    // Stop everything and leave nothing behind.
    let _ = api.start_kill();
    for w in &mut workers {
        let _ = w.start_kill();
    }
    let _ = api.wait().await;
    for w in &mut workers {
        let _ = w.wait().await;
    }
    db.close().await;
    instance.cleanup();
    let _ = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "rabbitmqctl -q list_queues name | grep '^{prefix}\\.' | while read q; do rabbitmqctl -q delete_queue \"$q\" >/dev/null; done; \
             redis-cli --scan --pattern '{prefix}:*' | xargs -r redis-cli del >/dev/null"
        ))
        .status();
    if report.lost > 0 || report.completed_twice > 0 || report.stale_snapshots > 0 {
        eprintln!("chaos: the processes' logs are in {}", logs.display());
    } else {
        let _ = std::fs::remove_file(&logs);
    }
    report
}
