//! Benchmark 2: bulk onboarding, end to end. `onramp serve` (default worker pool)
//! takes N create requests (64 in flight) for distinct datasources, all pointing at
//! one 10-table database on the local PostgreSQL; the clock runs from the first
//! request to the last `datasource.ready` event a subscriber receives. The floor is
//! `pgbench -C` (a new connection per transaction) running onramp's three discovery
//! queries at the same concurrency against the same database.
//!
//!     cargo run --release --example bulk -- [requests] [in-flight]

#[path = "common.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::json;

const TARGET_DB: &str = "bench_bulk10";

/// onramp's discovery queries (src/connectors/postgres/discover.rs), as pgbench runs them.
const DISCOVERY_SQL: &str = include_str!("pgbench-discovery.sql");

fn pgbench(clients: usize, transactions: usize) -> f64 {
    let script = std::env::temp_dir().join("onramp-bench-discovery.sql");
    std::fs::write(&script, DISCOVERY_SQL).unwrap();
    let per_client = transactions.div_ceil(clients);
    let out = std::process::Command::new("pgbench")
        .args(["-n", "-C", "-h", "127.0.0.1", "-U", "postgres", "-j", "2"])
        .args([
            "-c",
            &clients.to_string(),
            "-t",
            &per_client.to_string(),
            "-f",
        ])
        .arg(&script)
        .arg(TARGET_DB)
        .output()
        .expect("pgbench runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "pgbench: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    text.lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("pgbench prints tps")
}

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let requests = args.first().copied().unwrap_or(2000);
    let in_flight = args.get(1).copied().unwrap_or(64);
    common::target_database(TARGET_DB, 10);

    let floor_tps = pgbench(in_flight, requests);
    eprintln!("floor: pgbench -C at {in_flight} clients: {floor_tps:.1} transactions/s");

    let concurrency = std::env::var("BENCH_WORKER_CONCURRENCY").unwrap_or_default();
    let mut extra = vec![("ONRAMP_HTTP_ADDR", "127.0.0.1:18480")];
    if !concurrency.is_empty() {
        extra.push(("ONRAMP_WORKER_CONCURRENCY", concurrency.as_str()));
    }
    let instance = common::Instance::new("bb", &extra);
    instance.once(&["migrate"]).await;
    let token = instance.once(&["token", "create", "--org", "bench"]).await;
    let mut server = instance.spawn(&["serve"]);
    common::wait_ready("http://127.0.0.1:18480/readyz").await;
    let ready = common::count_ready(&instance.prefix, requests).await;

    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(in_flight)
        .build()
        .unwrap();
    let token = Arc::new(token);
    let onramp_pid = server.id().unwrap_or(0);
    let others: Vec<(&str, Vec<u32>)> = ["beam.smp", "redis-server"]
        .iter()
        .map(|n| (*n, common::pids_named(n)))
        .collect();
    let cpu_of = |pids: &[u32]| pids.iter().map(|p| common::cpu_seconds(*p)).sum::<f64>();
    let cpu_before: Vec<f64> = others.iter().map(|(_, p)| cpu_of(p)).collect();
    let (onramp_cpu_before, machine_before) = (
        common::cpu_seconds(onramp_pid),
        common::machine_busy_seconds(),
    );
    let started = Instant::now();
    let latencies: Vec<f64> = futures::stream::iter(0..requests)
        .map(|i| {
            let client = client.clone();
            let token = token.clone();
            async move {
                let body = json!({"datasourceType": "postgres", "credentials": {"name": format!("ds{i:05}"), "host": "127.0.0.1",
                    "username": "postgres", "database": TARGET_DB, "sslMode": "disable"}});
                let sent = Instant::now();
                let answer = client
                    .post("http://127.0.0.1:18480/api/v2/datasource")
                    .bearer_auth(token.as_str())
                    .json(&body)
                    .send()
                    .await
                    .expect("the API answers");
                let took = sent.elapsed().as_secs_f64() * 1000.0;
                assert_eq!(answer.status(), 202, "{}", answer.text().await.unwrap_or_default());
                took
            }
        })
        .buffer_unordered(in_flight)
        .collect()
        .await;
    let accepted = started.elapsed();
    let last_ready = tokio::time::timeout(Duration::from_secs(900), ready)
        .await
        .expect("every datasource became ready within 15 minutes")
        .unwrap();
    let elapsed = last_ready - started;
    let onramp_cpu = common::cpu_seconds(onramp_pid) - onramp_cpu_before;
    let machine_cpu = common::machine_busy_seconds() - machine_before;
    let other_cpu: Vec<(String, f64)> = others
        .iter()
        .zip(&cpu_before)
        .map(|((name, pids), before)| (name.to_string(), cpu_of(pids) - before))
        .collect();
    let _ = server.kill().await;
    // What onramp's own PostgreSQL keeps per datasource (records, jobs and their steps,
    // events for replay, indexes), for the sizing note.
    let own_db = format!("onramp_{}", instance.prefix);
    let own_bytes: f64 = common::psql(&own_db, "SELECT pg_database_size(current_database())")
        .parse()
        .unwrap_or(0.0);
    let empty_bytes: f64 = common::psql("postgres", "SELECT pg_database_size('template1')")
        .parse()
        .unwrap_or(0.0);
    let largest = common::psql(
        &own_db,
        "SELECT string_agg(relname || ' ' || pg_total_relation_size(c.oid), ', ' ORDER BY pg_total_relation_size(c.oid) DESC) \
         FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'",
    );
    instance.cleanup();

    let mut sorted = latencies.clone();
    sorted.sort_by(f64::total_cmp);
    let rate = requests as f64 / elapsed.as_secs_f64();
    let (p50, p99) = (
        common::percentile(&sorted, 50.0),
        common::percentile(&sorted, 99.0),
    );
    println!(
        "bulk onboarding: {requests} datasources, {in_flight} in flight, onramp serve with its default worker pool"
    );
    println!(
        "  {:<34}{:>12}",
        "all accepted after (s)",
        format!("{:.2}", accepted.as_secs_f64())
    );
    println!(
        "  {:<34}{:>12}",
        "last ready event after (s)",
        format!("{:.2}", elapsed.as_secs_f64())
    );
    println!(
        "  {:<34}{:>12}",
        "onramp datasources/s",
        format!("{rate:.1}")
    );
    println!(
        "  {:<34}{:>12}",
        "floor: pgbench -C transactions/s",
        format!("{floor_tps:.1}")
    );
    println!(
        "  {:<34}{:>12}",
        "ratio (goal >= 0.85)",
        format!("{:.2}", rate / floor_tps)
    );
    println!(
        "  {:<34}{:>12}",
        "accept latency p50 / p99 (ms)",
        format!("{p50:.1} / {p99:.1}")
    );
    let named: f64 = onramp_cpu + other_cpu.iter().map(|(_, c)| c).sum::<f64>();
    println!("  where the CPU went (of {machine_cpu:.1} busy core-seconds on the machine):");
    println!(
        "    {:<32}{:>10.1}{:>10.1} ms/datasource",
        "onramp serve",
        onramp_cpu,
        onramp_cpu * 1000.0 / requests as f64
    );
    for (name, c) in &other_cpu {
        println!(
            "    {:<32}{:>10.1}{:>10.1} ms/datasource",
            name,
            c,
            c * 1000.0 / requests as f64
        );
    }
    println!(
        "  onramp's own database: {:.0} bytes per datasource above an empty one ({largest})",
        (own_bytes - empty_bytes) / requests as f64
    );
    let rest = machine_cpu - named;
    println!(
        "    {:<32}{:>10.1}{:>10.1} ms/datasource",
        "postgres and the rest",
        rest,
        rest * 1000.0 / requests as f64
    );
    println!(
        "{}",
        json!({"benchmark": "bulk", "cpu_seconds": {"machine": machine_cpu, "onramp": onramp_cpu,
               "others": other_cpu.iter().map(|(n, c)| (n.clone(), json!(c))).collect::<serde_json::Map<_, _>>()}, "requests": requests, "in_flight": in_flight, "seconds": elapsed.as_secs_f64(),
               "datasources_per_s": rate, "floor_tps": floor_tps, "ratio": rate / floor_tps,
               "accept_p50_ms": p50, "accept_p99_ms": p99,
               "own_database_bytes_per_datasource": (own_bytes - empty_bytes) / requests as f64})
    );
}
