//! The chaos driver of `bench/chaos.rs` in a short mode (a few hundred jobs, about
//! a minute of faults) with the promise as assertions: nothing accepted is lost,
//! nothing ends twice, every success has its ready event and its snapshot.

#[path = "../bench/common.rs"]
mod common;

#[path = "../bench/chaos_driver.rs"]
mod chaos_driver;

#[allow(dead_code)]
#[path = "api/helpers/proxy.rs"]
mod proxy;

use std::time::Duration;

// Several threads: every connection of onramp's processes to their own servers goes
// through this process's proxies.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accepted_jobs_all_end_once_through_killed_workers_cut_servers_and_api_restarts() {
    let report = chaos_driver::run(chaos_driver::Config {
        creates: 300,
        in_flight: 16,
        workers: 3,
        binary: env!("CARGO_BIN_EXE_onramp").to_string(),
        submit_over: Duration::from_secs(5),
        fault_for: Duration::from_secs(45),
        fault_every_ms: (1500, 3000),
        drain_limit: Duration::from_secs(180),
    })
    .await;
    eprintln!("{}", serde_json::to_string_pretty(&report).unwrap());
    assert!(
        report.accepted >= 300,
        "every create of organisation A was accepted: {report:?}"
    );
    assert!(report.faults.values().sum::<usize>() >= 5, "{report:?}");
    assert_eq!(report.lost, 0, "lost: {:?}", report.lost_jobs);
    assert_eq!(report.completed_twice, 0, "{report:?}");
    assert_eq!(report.stale_snapshots, 0, "{report:?}");
    assert!(
        report.succeeded > 0 && report.min_ready_events_per_success >= 1,
        "{report:?}"
    );
    assert_eq!(report.duplicate_ready_with_other_ids, 0, "{report:?}");
    assert_eq!(report.failed_without_event, 0, "{report:?}");
    // The driver runs with ONRAMP_TARGET_MAX_CONCURRENT_JOBS=8: faults included, the
    // silent host never holds more of onramp's connections than that.
    assert!(report.most_at_one_host <= 8, "{report:?}");
}
