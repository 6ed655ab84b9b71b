//! Bulk onboarding neither floods one customer's server nor starves the other
//! organisations: jobs are dispatched within a per-host and a per-organisation
//! limit, counted across all workers.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::proxy::counting_silent_server;
use crate::helpers::targets::pg_credentials;
use crate::helpers::{body, spawn_with};

/// A server that never answers, and the most connections it held at once.
async fn silent_counting() -> (u16, Arc<AtomicUsize>) {
    let (port, held) = counting_silent_server("127.0.0.1").await;
    (port, held.most)
}

fn silent_request(name: &str, port: u16) -> Value {
    let mut c = pg_credentials(name, "public");
    c["port"] = json!(port);
    body("postgres", c)
}

#[tokio::test]
async fn one_host_never_gets_more_of_onramps_jobs_at_once_than_its_limit() {
    let (port, most) = silent_counting().await;
    let app = spawn_with(|s| {
        s.target_max_concurrent_jobs = 2;
        s.worker_concurrency = 6;
        s.connect_timeout = Duration::from_millis(1_000);
    })
    .await;
    let mut jobs = Vec::new();
    for i in 0..6 {
        jobs.push(
            app.accept(&silent_request(&format!("bulk-{i}"), port))
                .await,
        );
    }
    for job in &jobs {
        let job = app
            .wait_for_job(job["jobId"].as_str().unwrap(), Duration::from_secs(30))
            .await;
        assert_eq!(job["status"], "failed", "{job}");
    }
    assert_eq!(
        most.load(Ordering::SeqCst),
        2,
        "at most two at once, and both used"
    );
    app.stop().await;
}

#[tokio::test]
async fn another_organisations_single_job_starts_at_once_behind_a_backlog() {
    let (port, _) = silent_counting().await;
    let app = spawn_with(|s| {
        s.org_max_concurrent_jobs = 2;
        s.target_max_concurrent_jobs = 100;
        s.worker_concurrency = 4;
        s.connect_timeout = Duration::from_millis(1_500);
    })
    .await;
    // Organisation A: a backlog of slow jobs.
    let mut backlog = Vec::new();
    for i in 0..12 {
        backlog.push(app.accept(&silent_request(&format!("a-{i}"), port)).await);
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    // Organisation B: one job, against a server that answers.
    let (_, _, token_b) =
        onramp::storage::tokens::create(&app.pool, &format!("org-b-{}", app.id), None)
            .await
            .unwrap();
    let started = Instant::now();
    let answer: Value = app
        .client
        .post(app.url("/api/v2/datasource"))
        .bearer_auth(&token_b)
        .json(&body("postgres", pg_credentials("b-only", "public")))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let job_b = answer["jobId"].as_str().unwrap().to_string();
    let finished = loop {
        let job: Value = app
            .client
            .get(app.url(&format!("/api/v2/jobs/{job_b}")))
            .bearer_auth(&token_b)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        if job["status"] == "succeeded" || job["status"] == "failed" {
            break job;
        }
        assert!(started.elapsed() < Duration::from_secs(20), "{job}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let took = started.elapsed();
    assert_eq!(finished["status"], "succeeded", "{finished}");
    // A's twelve take six rounds of 1.5 s at two at a time; B did not wait for them.
    assert!(took < Duration::from_millis(1500), "B's job took {took:?}");
    let a_left = sqlx::query_scalar::<_, i64>(
        "SELECT count(*) FROM jobs WHERE org_id = $1 AND status IN ('queued', 'running')",
    )
    .bind(app.org_id)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert!(a_left > 4, "A's backlog was still there: {a_left} left");
    for job in &backlog {
        app.wait_for_job(job["jobId"].as_str().unwrap(), Duration::from_secs(60))
            .await;
    }
    app.stop().await;
}
