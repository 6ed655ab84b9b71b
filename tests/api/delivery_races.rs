//! Races between writers of one datasource, made deterministic with a paused proxy:
//! an older job that finishes last never overwrites a newer snapshot, and a worker
//! that lost its lease writes nothing.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::events::Subscriber;
use crate::helpers::proxy::{Proxy, counting_silent_server};
use crate::helpers::targets::{drop_pg_schema, pg_admin, pg_credentials, pg_schema};
use crate::helpers::{TestApp, body, spawn_with, unique};

/// Waits until the job's connect step runs (it is held at the paused proxy).
async fn connecting(app: &TestApp, job_id: &str) {
    for _ in 0..200 {
        let job = app.job(job_id).await;
        if job["steps"][1]["status"] == "running" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("the job never reached its connect step");
}

#[tokio::test]
async fn an_older_job_that_finishes_last_never_overwrites_a_newer_snapshot() {
    let (old_schema, new_schema) = (unique("s"), unique("s"));
    pg_schema(&old_schema).await;
    pg_admin()
        .await
        .batch_execute(&format!(
            "CREATE SCHEMA {new_schema}; CREATE TABLE {new_schema}.only_in_the_new (a int)"
        ))
        .await
        .unwrap();
    let proxy = Proxy::start("127.0.0.1:5432").await;
    proxy.pause();
    let app = spawn_with(|s| {
        s.connect_timeout = Duration::from_millis(30_000);
        s.job_lease = Duration::from_millis(30_000);
    })
    .await;
    // The older job: its connection waits at the proxy.
    let mut old = pg_credentials("race", &old_schema);
    old["port"] = json!(proxy.port);
    let first = app.accept(&body("postgres", old)).await;
    let first_job = first["jobId"].as_str().unwrap().to_string();
    connecting(&app, &first_job).await;
    // The newer job (an update) runs straight through and stores its snapshot.
    let update = app
        .client
        .put(app.url("/api/v2/datasource"))
        .bearer_auth(&app.token)
        .json(&body("postgres", pg_credentials("race", &new_schema)))
        .send()
        .await
        .unwrap();
    let second: Value = update.json().await.unwrap();
    let second_job = app
        .wait_for_job(second["jobId"].as_str().unwrap(), Duration::from_secs(30))
        .await;
    assert_eq!(second_job["status"], "succeeded", "{second_job}");
    // Now the older one goes on, and finishes last.
    proxy.restore();
    let first_job = app.wait_for_job(&first_job, Duration::from_secs(30)).await;
    assert_eq!(first_job["status"], "succeeded", "{first_job}");
    let cache = first_job["steps"][3]["message"].as_str().unwrap();
    assert!(cache.starts_with("not stored"), "{cache}");
    let snapshot: Value = app
        .get("/api/v2/datasource/race/schema")
        .await
        .json()
        .await
        .unwrap();
    let tables: Vec<&str> = snapshot["databases"][0]["schemas"][0]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tables, ["only_in_the_new"], "the newer snapshot stays");
    drop_pg_schema(&old_schema).await;
    drop_pg_schema(&new_schema).await;
    app.stop().await;
}

#[tokio::test]
async fn a_worker_that_lost_its_lease_stops_and_writes_nothing() {
    let proxy = Proxy::start("127.0.0.1:5432").await;
    proxy.pause();
    let app = spawn_with(|s| s.connect_timeout = Duration::from_millis(30_000)).await;
    let mut events = Subscriber::events(&app.settings).await;
    let mut c = pg_credentials("lease", "public");
    c["port"] = json!(proxy.port);
    let accepted = app.accept(&body("postgres", c)).await;
    let job_id = accepted["jobId"].as_str().unwrap().to_string();
    connecting(&app, &job_id).await;
    // Another worker takes the job over (as when this one was cut off long enough).
    let thief = uuid::Uuid::new_v4();
    sqlx::query("UPDATE jobs SET lease_owner = $2, lease_until = now() + interval '1 hour' WHERE id = $1::uuid")
        .bind(&job_id)
        .bind(thief)
        .execute(&app.pool)
        .await
        .unwrap();
    // The next renewal (a third of the 2 s lease) finds the lease gone.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    proxy.restore();
    tokio::time::sleep(Duration::from_secs(3)).await;
    let snapshot = app.get("/api/v2/datasource/lease/schema").await;
    assert_eq!(snapshot.status(), 404, "no snapshot was written");
    let owner: uuid::Uuid = sqlx::query_scalar("SELECT lease_owner FROM jobs WHERE id = $1::uuid")
        .bind(&job_id)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(owner, thief);
    let job = app.job(&job_id).await;
    assert_eq!(job["status"], "running", "{job}");
    assert!(
        events
            .next_of("datasource.ready", Duration::from_millis(500))
            .await
            .is_none(),
        "no ready event"
    );
    app.stop().await;
}

async fn purge_jobs_queue(settings: &onramp::config::Settings) {
    let (conn, ch) = crate::helpers::broker().await;
    // Wait for the relay to have published, then lose the messages.
    for _ in 0..100 {
        if crate::helpers::queue_length(&ch, &settings.jobs_queue()).await > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ch.queue_purge(settings.jobs_queue().as_str().into(), Default::default())
        .await
        .unwrap();
    let _ = conn.close(200, "done".into()).await;
}

#[tokio::test]
async fn jobs_whose_messages_were_lost_are_sent_again_and_end() {
    let id = unique("t");
    let mut settings = crate::helpers::test_settings(&id);
    settings.reconcile_interval = Duration::from_millis(200);
    settings.reconcile_after = Duration::from_millis(800);
    // What a job may wait on legitimately (a retry queue, a live lease) stays shorter.
    settings.job_lease = Duration::from_millis(500);
    settings.retry_max_delay = Duration::from_millis(200);
    settings.retry_base_delay = Duration::from_millis(100);
    let api = crate::helpers::spawn_api(&id, &settings).await;
    // One job queued, one running on a lease that ran out (its worker died): then the
    // queue loses both messages, as a broker that lost an unreplicated queue would.
    let queued = api
        .accept(&body("postgres", pg_credentials("lost-queued", "public")))
        .await;
    let running = api
        .accept(&body("postgres", pg_credentials("lost-running", "public")))
        .await;
    let running_id = running["jobId"]
        .as_str()
        .unwrap()
        .parse::<onramp::domain::JobId>()
        .unwrap();
    let claim = onramp::storage::jobs::claim(
        &api.pool,
        running_id,
        uuid::Uuid::new_v4(),
        Duration::from_millis(1),
    )
    .await
    .unwrap();
    assert!(matches!(claim, onramp::storage::jobs::Claim::Claimed(_)));
    tokio::time::sleep(Duration::from_millis(200)).await;
    purge_jobs_queue(&settings).await;
    let worker = crate::helpers::spawn_worker(&id, &settings).await;
    for job in [&queued, &running] {
        let job = api
            .wait_for_job(job["jobId"].as_str().unwrap(), Duration::from_secs(30))
            .await;
        assert_eq!(job["status"], "succeeded", "{job}");
    }
    let reconciled = api.get("/metrics").await.text().await.unwrap();
    assert!(
        reconciled.contains("onramp_jobs_reconciled_total"),
        "{reconciled}"
    );
    worker.stop().await;
    api.stop().await;
}

async fn until(what: &str, limit: Duration, done: impl Fn() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !done() {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_worker_cut_off_from_its_database_lets_go_of_the_target_before_its_lease_runs_out() {
    use std::sync::atomic::Ordering;
    let db = Proxy::start("127.0.0.1:5432").await;
    let (port, held) = counting_silent_server("127.0.0.1").await;
    let (open, total) = (held.open, held.total);
    let app = spawn_with(|s| {
        s.database_url = format!("postgres://postgres@{}/onramp_{}", db.addr(), s.prefix).into();
        s.connect_timeout = Duration::from_millis(30_000);
        s.job_lease = Duration::from_millis(1_500);
    })
    .await;
    let mut c = pg_credentials("cut-off", "public");
    c["port"] = json!(port);
    app.accept(&body("postgres", c)).await;
    until(
        "the job reaches the target",
        Duration::from_secs(10),
        || open.load(Ordering::SeqCst) == 1,
    )
    .await;
    // The worker can renew its lease no more: before the lease can have run out (and
    // another worker taken the job), it stops the job and closes its connection,
    // long before the 30 s connect timeout.
    db.cut();
    until(
        "the worker let go of the target within the lease",
        Duration::from_secs(3),
        || open.load(Ordering::SeqCst) == 0,
    )
    .await;
    // The job was given back, not dropped: once the database is back it runs again.
    db.restore();
    until("the job runs again", Duration::from_secs(20), || {
        total.load(Ordering::SeqCst) >= 2
    })
    .await;
    app.stop().await;
}
