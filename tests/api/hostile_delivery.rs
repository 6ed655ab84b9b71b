//! Delivery that one bad message cannot stop: an outbox row the broker refuses is
//! set aside while the others go on; a job whose workers keep dying ends instead of
//! going round for ever; tenants read no internals of onramp's own servers.

use std::time::Duration;

use onramp::storage::jobs;
use serde_json::Value;

use crate::helpers::proxy::Proxy;
use crate::helpers::targets::pg_credentials;
use crate::helpers::{
    body, dead_lettered, return_messages, spawn_api, spawn_with, spawn_worker, test_settings,
    unique,
};

#[tokio::test]
async fn an_outbox_row_the_broker_refuses_is_set_aside_and_every_other_message_goes_on() {
    let app = spawn_with(|_| {}).await;
    // A row for an exchange that does not exist: RabbitMQ closes the channel on it,
    // every time. It is first in line.
    sqlx::query("INSERT INTO outbox (exchange, routing_key, payload) VALUES ($1, 'x', '{\"poison\": true}')")
        .bind(format!("{}.no-such-exchange", app.id))
        .execute(&app.pool)
        .await
        .unwrap();
    let job = app
        .create_and_wait(&body("postgres", pg_credentials("behind-poison", "public")))
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let mut reason = None;
    for _ in 0..100 {
        reason = sqlx::query_scalar::<_, String>("SELECT reason FROM outbox_rejected")
            .fetch_optional(&app.pool)
            .await
            .unwrap();
        if reason.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let reason = reason.expect("the refused row was set aside");
    assert!(reason.contains("refused by the broker"), "{reason}");
    // Everything else was published (events of the job may still be on their way).
    let mut left = app.count("outbox").await;
    for _ in 0..100 {
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        left = app.count("outbox").await;
    }
    assert_eq!(left, 0, "nothing else waits");
    app.stop().await;
}

#[tokio::test]
async fn a_job_whose_workers_all_stopped_while_running_it_is_failed_not_tried_for_ever() {
    let id = unique("t");
    let settings = test_settings(&id);
    let limit = settings.job_delivery_limit;
    let api = spawn_api(&id, &settings).await;
    let accepted = api
        .accept(&body("postgres", pg_credentials("killer", "public")))
        .await;
    let job_id = accepted["jobId"]
        .as_str()
        .unwrap()
        .parse::<onramp::domain::JobId>()
        .unwrap();
    // Workers that each claimed the job and died while running it: their leases ran
    // out with the job still running (claims through onramp's own code).
    for _ in 0..limit - 1 {
        let worker = uuid::Uuid::new_v4();
        let claim = jobs::claim(&api.pool, job_id, worker, Duration::from_millis(1))
            .await
            .unwrap();
        assert!(matches!(claim, jobs::Claim::Claimed(_)));
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let worker = spawn_worker(&id, &settings).await;
    let job = api
        .wait_for_job(&job_id.to_string(), Duration::from_secs(30))
        .await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "INTERNAL_SERVER_ERROR");
    let message = job["error"]["message"].as_str().unwrap();
    let taken = format!("taken over from {} workers", limit - 1);
    assert!(message.contains(&taken), "{message}");
    // Its message is in the dead-letter queue, not back in the jobs queue.
    assert_eq!(dead_lettered(&settings).await["jobId"], accepted["jobId"]);
    worker.stop().await;
    api.stop().await;
}

#[tokio::test]
async fn a_job_requeued_by_restarts_alone_still_runs() {
    // Shutdown requeues and redeliveries count in the broker's delivery count, not
    // as deaths: a job returned more often than the limit still runs.
    let id = unique("t");
    let settings = test_settings(&id);
    let api = spawn_api(&id, &settings).await;
    let accepted = api
        .accept(&body("postgres", pg_credentials("restarted", "public")))
        .await;
    return_messages(&settings.jobs_queue(), settings.job_delivery_limit + 2).await;
    let worker = spawn_worker(&id, &settings).await;
    let job = api
        .wait_for_job(accepted["jobId"].as_str().unwrap(), Duration::from_secs(30))
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    worker.stop().await;
    api.stop().await;
}

#[tokio::test]
async fn the_jobs_queue_itself_dead_letters_a_message_past_its_delivery_limit() {
    let id = unique("t");
    let settings = test_settings(&id);
    let api = spawn_api(&id, &settings).await;
    let accepted = api
        .accept(&body("postgres", pg_credentials("looping", "public")))
        .await;
    // Returned more often than any worker would allow: the broker takes it out.
    let backstop = settings.job_delivery_limit * 4;
    return_messages(&settings.jobs_queue(), backstop + 1).await;
    assert_eq!(dead_lettered(&settings).await["jobId"], accepted["jobId"]);
    api.stop().await;
}

#[tokio::test]
async fn tenants_read_a_stable_message_and_an_error_id_never_the_drivers_text_of_onramps_servers() {
    let redis = Proxy::start("127.0.0.1:6379").await;
    let url = format!("redis://{}/", redis.addr());
    let app = spawn_with(|s| {
        s.redis_url = url.into();
        s.retry_max_attempts = 2;
    })
    .await;
    redis.cut();
    let accepted: Value = app
        .accept(&body("postgres", pg_credentials("cache-gone", "public")))
        .await;
    let job_id = accepted["jobId"].as_str().unwrap().to_string();
    // While it is retried, and once it has failed.
    let mut seen = Vec::new();
    for _ in 0..400 {
        let job = app.job(&job_id).await;
        seen.push(job.clone());
        if job["status"] == "failed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let last = seen.last().unwrap();
    assert_eq!(last["status"], "failed", "{last}");
    assert!(
        last["error"]["message"]
            .as_str()
            .unwrap()
            .contains("error id"),
        "{last}"
    );
    for job in &seen {
        let text = job.to_string().to_ascii_lowercase();
        for leak in [
            "redis:",
            "connection refused",
            "os error",
            "broken pipe",
            "127.0.0.1",
        ] {
            assert!(!text.contains(leak), "{leak:?} in {job}");
        }
    }
    app.stop().await;
}
