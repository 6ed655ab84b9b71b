//! `/metrics` after known work: the numbers an operator alerts on are the ones
//! that happened.

use std::time::Duration;

use serde_json::json;

use crate::helpers::receiver::Receiver;
use crate::helpers::targets::{pg_credentials, pg_schema};
use crate::helpers::{body, spawn_with, unique};

/// The value of the series `name` whose labels include all of `labels`.
fn value(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| {
            let (series, v) = l.rsplit_once(' ')?;
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            (metric == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\""))))
            .then(|| v.parse().ok())?
        })
        .next()
}

#[tokio::test]
async fn a_scrape_after_known_jobs_counts_them_by_type_step_and_code() {
    let app = spawn_with(|s| {
        s.webhook_allow_http_loopback = true;
        s.database_pool_size = 10;
    })
    .await;
    let receiver = Receiver::start().await;
    let created = app
        .client
        .post(app.url("/api/v2/webhooks"))
        .bearer_auth(&app.token)
        .json(&json!({"url": receiver.url("m"), "events": ["datasource.ready"]}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), 201);

    let schema = unique("s");
    pg_schema(&schema).await;
    let ok = app
        .create_and_wait(&body("postgres", pg_credentials("counted", &schema)))
        .await;
    assert_eq!(ok["status"], "succeeded", "{ok}");
    let mut refused = pg_credentials("refused", &schema);
    refused["password"] = json!("wrong");
    refused["username"] = json!(unique("nobody"));
    let failed = app.create_and_wait(&body("postgres", refused)).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let code = failed["error"]["code"].as_str().unwrap().to_string();
    assert_eq!(
        receiver
            .wait_for("m", 1, Duration::from_secs(10))
            .await
            .len(),
        1
    );
    // The delivery's outcome is counted once it is recorded.
    tokio::time::sleep(Duration::from_millis(500)).await;

    let text = app.get("/metrics").await.text().await.unwrap();
    let pg = ("type", "postgres");
    assert_eq!(
        value(
            &text,
            "onramp_jobs_total",
            &[pg, ("outcome", "succeeded"), ("code", "")]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(
            &text,
            "onramp_jobs_total",
            &[pg, ("outcome", "failed"), ("code", &code)]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "onramp_job_duration_seconds_count", &[pg]),
        Some(2.0)
    );
    // Both reached connect; only the first discovered and cached.
    let step = |s: &str| {
        value(
            &text,
            "onramp_job_step_duration_seconds_count",
            &[pg, ("step", s)],
        )
    };
    assert_eq!(step("validate"), Some(2.0), "{text}");
    assert_eq!(step("connect"), Some(2.0), "{text}");
    assert_eq!(step("discover"), Some(1.0), "{text}");
    assert_eq!(step("cache"), Some(1.0), "{text}");
    assert!(
        value(
            &text,
            "onramp_job_step_duration_seconds_bucket",
            &[pg, ("step", "connect"), ("le", "+Inf")]
        ) == Some(2.0)
    );
    assert_eq!(
        value(&text, "onramp_snapshot_bytes_count", &[pg]),
        Some(1.0)
    );
    assert!(value(&text, "onramp_snapshot_bytes_sum", &[pg]).unwrap() > 100.0);
    assert_eq!(value(&text, "onramp_jobs_in_flight", &[]), Some(0.0));
    // Read from the broker: this app's worker consumes, nothing waits.
    assert!(
        value(&text, "onramp_queue_consumers", &[("queue", "jobs")]).unwrap() >= 1.0,
        "{text}"
    );
    assert_eq!(
        value(&text, "onramp_queue_messages", &[("queue", "jobs")]),
        Some(0.0)
    );
    assert_eq!(
        value(&text, "onramp_queue_messages", &[("queue", "dead")]),
        Some(0.0)
    );
    assert_eq!(
        value(&text, "onramp_jobs_queued_oldest_age_seconds", &[]),
        Some(0.0)
    );
    assert!(
        value(&text, "onramp_outbox_backlog", &[]).is_some(),
        "{text}"
    );
    assert!(value(&text, "onramp_outbox_oldest_age_seconds", &[]).is_some());
    assert_eq!(
        value(
            &text,
            "onramp_webhook_deliveries_total",
            &[("outcome", "delivered")]
        ),
        Some(1.0),
        "{text}"
    );
    assert_eq!(
        value(&text, "onramp_webhook_delivery_duration_seconds_count", &[]),
        Some(1.0)
    );
    assert_eq!(value(&text, "onramp_webhook_backlog", &[]), Some(0.0));
    app.stop().await;
}

#[tokio::test]
async fn a_worker_without_the_api_serves_its_metrics_where_metrics_addr_says() {
    use onramp::startup::{Application, Roles};
    let id = unique("t");
    let mut settings = crate::helpers::test_settings(&id);
    settings.metrics_addr = "127.0.0.1:0".into();
    let egress = onramp::egress::Egress::new(settings.egress_policy().unwrap());
    let roles = Roles {
        api: false,
        worker: true,
    };
    let app = Application::build_with_egress(settings.clone(), roles, egress)
        .await
        .unwrap();
    assert!(app.local_addr().is_none(), "no API in a worker");
    let addr = app.metrics_addr().expect("a metrics listener");
    let stop = tokio_util::sync::CancellationToken::new();
    let running = tokio::spawn(app.run(stop.clone()));
    let client = reqwest::Client::new();
    // Sampled from the broker at a scrape (every 5 s at most): this worker, once
    // it consumes, is the jobs queue's consumer.
    let until = tokio::time::Instant::now() + Duration::from_secs(20);
    loop {
        let metrics = client
            .get(format!("http://{addr}/metrics"))
            .send()
            .await
            .unwrap();
        assert_eq!(metrics.status(), 200);
        let text = metrics.text().await.unwrap();
        if value(&text, "onramp_queue_consumers", &[("queue", "jobs")]) == Some(1.0) {
            break;
        }
        assert!(tokio::time::Instant::now() < until, "{text}");
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let health = client
        .get(format!("http://{addr}/healthz"))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    // Only those: the API is not served here.
    let api = client
        .get(format!("http://{addr}/api/v2/datasource"))
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), 404);
    stop.cancel();
    let _ = tokio::time::timeout(std::time::Duration::from_secs(20), running).await;
    crate::helpers::cleanup(&id, &settings).await;
}
