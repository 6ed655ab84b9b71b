//! Benchmark 4: chaos. 2,000 creates of one organisation against loopback targets
//! of every kind (answering, 150 ms away, refusing, silent, at its connection
//! limit), one create every half second from a second organisation, 3 `onramp
//! worker` processes and one `onramp api`, while every few seconds a worker is
//! killed (SIGKILL) and replaced, the connections to RabbitMQ, Redis or PostgreSQL
//! are cut and restored, or the API is killed and restarted. Then: every accepted
//! job ended, none twice, every success has its ready event and its snapshot. Not a
//! test (`tests/chaos.rs` runs the same driver, shorter, with assertions).
//!
//!     cargo run --release --example chaos -- [creates] [workers]

#[path = "common.rs"]
mod common;

#[path = "chaos_driver.rs"]
mod chaos_driver;

#[allow(dead_code)]
#[path = "../tests/api/helpers/proxy.rs"]
mod proxy;

use std::time::Duration;

#[tokio::main]
async fn main() {
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let creates = args.first().copied().unwrap_or(2000);
    let workers = args.get(1).copied().unwrap_or(3);
    let report = chaos_driver::run(chaos_driver::Config {
        creates,
        in_flight: 32,
        workers,
        binary: common::ONRAMP.to_string(),
        submit_over: Duration::from_secs(20),
        fault_for: Duration::from_secs(90),
        fault_every_ms: (2000, 5000),
        drain_limit: Duration::from_secs(600),
    })
    .await;
    let faults: usize = report.faults.values().sum();
    println!("| figure | value | must be |");
    println!("| --- | --- | --- |");
    println!(
        "| jobs accepted (of A's {creates} creates: {}) | {} | all |",
        report.a_accepted, report.accepted
    );
    println!(
        "| ended: succeeded / failed by the target / failed otherwise | {} / {} / {} | |",
        report.succeeded, report.failed_by_target, report.failed_otherwise
    );
    println!("| lost (accepted, never ended) | {} | 0 |", report.lost);
    println!(
        "| completed twice (two outcomes or two snapshot writes) | {} | 0 |",
        report.completed_twice
    );
    println!(
        "| ready events per succeeded job, at least | {} | ≥ 1 |",
        report.min_ready_events_per_success
    );
    println!(
        "| duplicate ready deliveries (same id) / with another id | {} / {} | any / 0 |",
        report.duplicate_ready_deliveries, report.duplicate_ready_with_other_ids
    );
    println!(
        "| snapshots that disagree with the latest successful job | {} | 0 |",
        report.stale_snapshots
    );
    println!(
        "| most connections open at once to the silent host (ONRAMP_TARGET_MAX_CONCURRENT_JOBS=8) | {} | ≤ 8 |",
        report.most_at_one_host
    );
    println!("| faults injected | {faults} ({:?}) | |", report.faults);
    println!("| drain after the last fault | {} ms | |", report.drain_ms);
    println!(
        "| organisation B's create to start, away from faults: p50 / p99 ({} samples) | {:.0} ms / {:.0} ms | p99 < 1000 ms |",
        report.b_quiet_samples, report.b_quiet_p50_ms, report.b_quiet_p99_ms
    );
    println!(
        "| the same, all of B's creates, faults included ({} samples) | {:.0} ms / {:.0} ms | |",
        report.b_samples, report.b_start_p50_ms, report.b_start_p99_ms
    );
    println!("| whole run | {} ms | |", report.run_ms);
    println!("{}", serde_json::to_string(&report).unwrap());
}
