//! Benchmark 3: scale-out against a slow target. A TCP proxy on loopback adds a
//! fixed delay each way between onramp's workers and the target PostgreSQL (200 ms
//! per round trip). For 1, 2, 4 and 8 (by default) `onramp worker` processes (each with its
//! configured concurrency) beside one `onramp api`, N jobs are created and the clock
//! runs to the last `datasource.ready` event. The ideal is total concurrency ÷ one
//! job's time (measured alone, through the same proxy); each worker's RSS is sampled.
//! The target lives in a PostgreSQL cluster of the benchmark's own (port 5439,
//! `max_connections` 400, made once with pg_createcluster), so that 8 workers' 80
//! target connections fit beside the machine's own server.
//!
//!     cargo run --release --example scaleout -- [jobs] [round-trip-ms] [workers,...]

#[path = "common.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

const TARGET_DB: &str = "bench_bulk10";
/// Jobs per worker process (ONRAMP_WORKER_CONCURRENCY): 8 × 10 target connections go
/// to the benchmark's own cluster; onramp's own pools (8 × 4 + 4) stay on the
/// machine's server, under its default max_connections of 100.
const CONCURRENCY: usize = 10;
const API: &str = "127.0.0.1:18481";
/// The benchmark's own PostgreSQL cluster, for the target only.
const TARGET_PORT: u16 = 5439;
const TARGET_CLUSTER: &str = "onramp_bench";

/// Makes (once) and starts the target's cluster: trust on loopback, 400 connections.
fn target_cluster() {
    let version = std::fs::read_dir("/etc/postgresql")
        .expect("Debian's PostgreSQL")
        .flatten()
        .filter_map(|e| e.file_name().to_str().and_then(|v| v.parse::<u32>().ok()))
        .max()
        .expect("a PostgreSQL version")
        .to_string();
    let run = |args: &[&str]| {
        let status = std::process::Command::new(args[0])
            .args(&args[1..])
            .status()
            .expect("runs");
        assert!(status.success(), "{args:?}");
    };
    let listed = std::process::Command::new("pg_lsclusters")
        .arg("-h")
        .output()
        .expect("pg_lsclusters");
    let listed = String::from_utf8_lossy(&listed.stdout).to_string();
    let line = listed
        .lines()
        .find(|l| l.split_whitespace().nth(1) == Some(TARGET_CLUSTER));
    if line.is_none() {
        let port = TARGET_PORT.to_string();
        run(&[
            "pg_createcluster",
            &version,
            TARGET_CLUSTER,
            "--port",
            &port,
            "-o",
            "max_connections=400",
            "-o",
            "shared_buffers=256MB",
            "--",
            "--auth-host=trust",
            "--auth-local=trust",
        ]);
    }
    if !line.is_some_and(|l| l.contains("online")) {
        run(&[
            "pg_ctlcluster",
            "--skip-systemctl-redirect",
            &version,
            TARGET_CLUSTER,
            "start",
        ]);
    }
}

/// Copies one direction, delivering each chunk `delay` after it was read; chunks
/// queue rather than wait for each other, so the delay adds latency, not a rate limit.
async fn delayed_copy(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    delay: Duration,
) {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<(Instant, Vec<u8>)>();
    let writer = tokio::spawn(async move {
        while let Some((due, bytes)) = rx.recv().await {
            tokio::time::sleep_until(due.into()).await;
            if to.write_all(&bytes).await.is_err() {
                return;
            }
        }
        let _ = to.shutdown().await;
    });
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if tx
                    .send((Instant::now() + delay, buf[..n].to_vec()))
                    .is_err()
                {
                    break;
                }
            }
        }
    }
    drop(tx);
    let _ = writer.await;
}

/// A loopback proxy to PostgreSQL that adds `round_trip` to every round trip.
async fn latency_proxy(round_trip: Duration) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let half = round_trip / 2;
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(server) = TcpStream::connect(("127.0.0.1", TARGET_PORT)).await else {
                    return;
                };
                let _ = (client.set_nodelay(true), server.set_nodelay(true));
                let (cr, cw) = client.into_split();
                let (sr, sw) = server.into_split();
                tokio::join!(delayed_copy(cr, sw, half), delayed_copy(sr, cw, half));
            });
        }
    });
    port
}

struct Run {
    workers: usize,
    seconds: f64,
    jobs_per_s: f64,
    ideal_per_s: f64,
    rss_start_kib: u64,
    rss_end_kib: u64,
    rss_max_kib: u64,
}

async fn create(client: &reqwest::Client, token: &str, name: &str, port: u16) -> String {
    let body = json!({"datasourceType": "postgres", "credentials": {"name": name, "host": "127.0.0.1", "port": port,
        "username": "postgres", "database": TARGET_DB, "sslMode": "disable"}});
    let answer = client
        .post(format!("http://{API}/api/v2/datasource"))
        .bearer_auth(token)
        .json(&body)
        .send()
        .await
        .expect("the API answers");
    assert_eq!(
        answer.status(),
        202,
        "{}",
        answer.text().await.unwrap_or_default()
    );
    let body: serde_json::Value = answer.json().await.unwrap();
    body["jobId"].as_str().unwrap_or_default().to_string()
}

/// The time a job held its worker slot: the sum of its steps' durations.
async fn job_seconds(client: &reqwest::Client, token: &str, job: &str) -> f64 {
    let job: serde_json::Value = client
        .get(format!("http://{API}/api/v2/jobs/{job}"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let steps = job["steps"].as_array().cloned().unwrap_or_default();
    steps
        .iter()
        .filter_map(|s| s["durationMs"].as_f64())
        .sum::<f64>()
        / 1000.0
}

async fn run(workers: usize, jobs: usize, proxy_port: u16) -> (Run, f64) {
    let instance = common::Instance::new(
        "bs",
        &[
            ("ONRAMP_HTTP_ADDR", API),
            ("ONRAMP_WORKER_CONCURRENCY", "10"),
            ("ONRAMP_DATABASE_POOL_SIZE", "4"),
            ("ONRAMP_DISCOVER_TIMEOUT_MS", "120000"),
        ],
    );
    instance.once(&["migrate"]).await;
    let token = instance.once(&["token", "create", "--org", "bench"]).await;
    let mut api = instance.spawn(&["api"]);
    common::wait_ready(&format!("http://{API}/readyz")).await;
    let mut procs: Vec<_> = (0..workers).map(|_| instance.spawn(&["worker"])).collect();
    let pids: Vec<u32> = procs.iter().filter_map(|p| p.id()).collect();
    let client = reqwest::Client::new();

    // One job alone: the time a job holds a worker slot, through the proxy (the
    // second of two, so that the worker's own connections are warm).
    let mut single = 0.0;
    for name in ["warm-up", "alone"] {
        let alone = common::count_ready(&instance.prefix, 1).await;
        let job = create(&client, &token, name, proxy_port).await;
        alone.await.unwrap();
        single = job_seconds(&client, &token, &job).await;
    }

    let ready = common::count_ready(&instance.prefix, jobs).await;
    let samples = Arc::new(std::sync::Mutex::new(Vec::<u64>::new()));
    let sampler = {
        let samples = samples.clone();
        let pids = pids.clone();
        tokio::spawn(async move {
            loop {
                let total: u64 = pids
                    .iter()
                    .filter_map(|p| common::rss_kib(*p))
                    .max()
                    .unwrap_or(0);
                samples.lock().unwrap().push(total);
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
        })
    };
    let started = Instant::now();
    futures::stream::iter(0..jobs)
        .for_each_concurrent(32, |i| {
            let client = client.clone();
            let token = token.clone();
            async move {
                create(&client, &token, &format!("ds{i:05}"), proxy_port).await;
            }
        })
        .await;
    let last = tokio::time::timeout(Duration::from_secs(1200), ready)
        .await
        .expect("jobs finish")
        .unwrap();
    sampler.abort();
    let seconds = (last - started).as_secs_f64();
    for p in procs.iter_mut() {
        let _ = p.kill().await;
    }
    let _ = api.kill().await;
    instance.cleanup();
    let samples = samples.lock().unwrap().clone();
    let tenth = samples.len() / 10;
    let run = Run {
        workers,
        seconds,
        jobs_per_s: jobs as f64 / seconds,
        ideal_per_s: (workers * CONCURRENCY) as f64 / single,
        rss_start_kib: samples.get(tenth).copied().unwrap_or(0),
        rss_end_kib: samples.last().copied().unwrap_or(0),
        rss_max_kib: samples.iter().copied().max().unwrap_or(0),
    };
    (run, single)
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number =
        |i: usize, default: u64| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    let jobs = number(0, 1000) as usize;
    let round_trip = Duration::from_millis(number(1, 200));
    let worker_counts: Vec<usize> = args
        .get(2)
        .map(|w| w.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![1, 2, 4, 8]);
    target_cluster();
    common::target_database_at(TARGET_PORT, TARGET_DB, 10);
    let proxy_port = latency_proxy(round_trip).await;
    let mut runs = Vec::new();
    for workers in worker_counts {
        let (r, single) = run(workers, jobs, proxy_port).await;
        eprintln!(
            "{workers} worker(s): {:.1} jobs/s (one job alone {single:.2} s)",
            r.jobs_per_s
        );
        runs.push((r, single));
    }
    println!(
        "scale-out: {jobs} jobs per run, {} ms added per round trip to the target, {CONCURRENCY} jobs per worker",
        round_trip.as_millis()
    );
    println!(
        "  {:>8}{:>10}{:>10}{:>10}{:>8}{:>10}   worker RSS MiB 10%→end",
        "workers", "seconds", "jobs/s", "ideal/s", "ratio", "× 1 wkr"
    );
    let base = runs[0].0.jobs_per_s;
    let mut lines = Vec::new();
    for (r, single) in &runs {
        println!(
            "  {:>8}{:>10.1}{:>10.2}{:>10.2}{:>8.2}{:>10.2}   {:.1} → {:.1} (max {:.1})",
            r.workers,
            r.seconds,
            r.jobs_per_s,
            r.ideal_per_s,
            r.jobs_per_s / r.ideal_per_s,
            r.jobs_per_s / base,
            r.rss_start_kib as f64 / 1024.0,
            r.rss_end_kib as f64 / 1024.0,
            r.rss_max_kib as f64 / 1024.0
        );
        lines.push(json!({"workers": r.workers, "seconds": r.seconds, "jobs_per_s": r.jobs_per_s, "single_job_s": single,
            "ideal_per_s": r.ideal_per_s, "ratio": r.jobs_per_s / r.ideal_per_s, "speedup": r.jobs_per_s / base,
            "rss_start_kib": r.rss_start_kib, "rss_end_kib": r.rss_end_kib, "rss_max_kib": r.rss_max_kib}));
    }
    println!(
        "{}",
        json!({"benchmark": "scaleout", "jobs": jobs, "round_trip_ms": round_trip.as_millis() as u64, "runs": lines})
    );
}
