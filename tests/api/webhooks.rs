//! Webhooks end to end: onramp delivers to a receiver that verifies signatures with
//! the `standardwebhooks` package from PyPI and parses the CloudEvents SDK's way.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::receiver::Receiver;
use crate::helpers::targets::{pg_credentials, pg_schema};
use crate::helpers::{TestApp, body, spawn_with, unique};

async fn app_for_webhooks(adjust: impl FnOnce(&mut onramp::config::Settings)) -> TestApp {
    spawn_with(|s| {
        s.webhook_allow_http_loopback = true;
        s.webhook_retry_base = Duration::from_millis(100);
        s.database_pool_size = 10;
        adjust(s);
    })
    .await
}

async fn call(
    app: &TestApp,
    token: &str,
    method: reqwest::Method,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = app.client.request(method, app.url(path)).bearer_auth(token);
    if let Some(b) = body {
        request = request.json(&b);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn create_webhook(app: &TestApp, url: &str, events: Value) -> Value {
    let (status, hook) = call(
        app,
        &app.token,
        reqwest::Method::POST,
        "/api/v2/webhooks",
        Some(json!({"url": url, "events": events, "description": "tests"})),
    )
    .await;
    assert_eq!(status, 201, "{hook}");
    hook
}

async fn send_test(app: &TestApp, hook: &Value) -> Value {
    let path = format!("/api/v2/webhooks/{}/test", hook["id"].as_str().unwrap());
    let (status, queued) = call(app, &app.token, reqwest::Method::POST, &path, None).await;
    assert_eq!(status, 202, "{queued}");
    queued
}

async fn deliveries(app: &TestApp, hook: &Value) -> Vec<Value> {
    let path = format!(
        "/api/v2/webhooks/{}/deliveries?pageSize=100",
        hook["id"].as_str().unwrap()
    );
    let (status, page) = call(app, &app.token, reqwest::Method::GET, &path, None).await;
    assert_eq!(status, 200, "{page}");
    page["data"].as_array().unwrap().clone()
}

async fn webhook_state(app: &TestApp, hook: &Value) -> Value {
    let path = format!("/api/v2/webhooks/{}", hook["id"].as_str().unwrap());
    call(app, &app.token, reqwest::Method::GET, &path, None)
        .await
        .1
}

/// Waits until `check` holds for the webhook's state, or panics with the last one.
async fn until_webhook(
    app: &TestApp,
    hook: &Value,
    limit: Duration,
    check: impl Fn(&Value) -> bool,
) -> Value {
    let until = tokio::time::Instant::now() + limit;
    loop {
        let state = webhook_state(app, hook).await;
        if check(&state) {
            return state;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "webhook never reached the state: {state}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_ready_datasource_reaches_the_webhook_as_a_signed_cloudevent_that_standard_webhooks_verifies()
 {
    let app = app_for_webhooks(|_| {}).await;
    let receiver = Receiver::start().await;
    let hook = create_webhook(&app, &receiver.url("a"), json!(["datasource.ready"])).await;
    let secret = hook["secret"].as_str().unwrap();
    assert!(secret.starts_with("whsec_"), "{hook}");
    // The secret is shown once: never again.
    assert!(webhook_state(&app, &hook).await.get("secret").is_none());
    receiver.secrets("a", &[secret]).await;

    let schema = unique("s");
    pg_schema(&schema).await;
    let job = app
        .create_and_wait(&body("postgres", pg_credentials("hooked", &schema)))
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");

    let got = receiver.wait_for("a", 1, Duration::from_secs(20)).await;
    assert_eq!(got.len(), 1, "{got:?}");
    let d = &got[0];
    assert_eq!(d["verified_with"], json!([0]), "{d}");
    assert_eq!(d["content_type"], "application/cloudevents+json", "{d}");
    let event = &d["event"];
    assert_eq!(event["type"], "datasource.ready", "{d}");
    assert_eq!(event["specversion"], "1.0");
    assert_eq!(event["subject"], "hooked");
    assert_eq!(event["data"]["datasourceType"], "postgres", "{d}");
    // The message id receivers deduplicate by is the CloudEvent's id.
    assert_eq!(d["webhook_id"], event["id"], "{d}");
    let ts: i64 = d["webhook_timestamp"].as_str().unwrap().parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - ts).abs() < 60);

    // Only the subscribed type: no job.progress or others arrived.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.received("a").await.len(), 1);
    let log = deliveries(&app, &hook).await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["status"], "delivered", "{log:?}");
    assert_eq!(log[0]["attempts"], 1);
    assert_eq!(log[0]["lastStatusCode"], 204);
    assert_eq!(log[0]["eventId"], event["id"]);
    assert!(log[0]["lastDurationMs"].as_i64().is_some());
    app.stop().await;
}

#[tokio::test]
async fn failures_back_off_then_disable_the_webhook_announce_it_and_a_retry_delivers() {
    let app = app_for_webhooks(|s| s.webhook_max_failures = 3).await;
    let receiver = Receiver::start().await;
    receiver.behave("bad", json!({"status": 500})).await;
    let bad = create_webhook(&app, &receiver.url("bad"), json!(["*"])).await;
    // A second webhook hears that the first was disabled.
    let watcher = create_webhook(&app, &receiver.url("watcher"), json!(["webhook.disabled"])).await;
    receiver
        .secrets("watcher", &[watcher["secret"].as_str().unwrap()])
        .await;

    send_test(&app, &bad).await;
    let state = until_webhook(&app, &bad, Duration::from_secs(20), |w| {
        w["enabled"] == false
    })
    .await;
    assert_eq!(state["consecutiveFailures"], 3, "{state}");
    assert!(
        state["disabledReason"]
            .as_str()
            .unwrap()
            .contains("3 deliveries failed in a row"),
        "{state}"
    );

    let attempts = receiver.received("bad").await;
    assert_eq!(attempts.len(), 3, "{attempts:?}");
    let at: Vec<f64> = attempts
        .iter()
        .map(|a| a["received_at"].as_f64().unwrap())
        .collect();
    // Exponential with jitter from the upper half: at least 50 ms (of 100), then at
    // least 100 ms (of 200); a busy machine only adds to them.
    let (first, second) = (at[1] - at[0], at[2] - at[1]);
    assert!(first >= 0.045, "{first}");
    assert!(second >= 0.095, "{first} {second}");
    // Every attempt carries the same message id: receivers deduplicate by it.
    assert!(
        attempts
            .iter()
            .all(|a| a["webhook_id"] == attempts[0]["webhook_id"])
    );

    let announced = receiver
        .wait_for("watcher", 1, Duration::from_secs(10))
        .await;
    assert_eq!(announced.len(), 1, "{announced:?}");
    assert_eq!(announced[0]["verified_with"], json!([0]));
    let event = &announced[0]["event"];
    assert_eq!(event["type"], "webhook.disabled");
    assert_eq!(event["data"]["webhookId"], bad["id"]);
    assert_eq!(event["data"]["consecutiveFailures"], 3);

    // A disabled webhook is sent nothing, a test included.
    let path = format!("/api/v2/webhooks/{}/test", bad["id"].as_str().unwrap());
    let (status, refused) = call(&app, &app.token, reqwest::Method::POST, &path, None).await;
    assert_eq!(status, 400, "{refused}");

    let log = deliveries(&app, &bad).await;
    assert_eq!(log.len(), 1);
    assert_eq!(log[0]["status"], "pending", "{log:?}");
    assert_eq!(log[0]["attempts"], 3);
    assert_eq!(log[0]["lastStatusCode"], 500);

    // A retry of a disabled webhook's delivery would send nothing: refused.
    let retry_path = format!(
        "/api/v2/webhooks/deliveries/{}/retry",
        log[0]["id"].as_str().unwrap()
    );
    let (status, refused) = call(&app, &app.token, reqwest::Method::POST, &retry_path, None).await;
    assert_eq!(status, 400, "{refused}");

    // The receiver is mended; enabling sends what waited, with a new retry window.
    receiver.behave("bad", json!({"status": 200})).await;
    let path = format!("/api/v2/webhooks/{}", bad["id"].as_str().unwrap());
    let (status, enabled) = call(
        &app,
        &app.token,
        reqwest::Method::PATCH,
        &path,
        Some(json!({"enabled": true})),
    )
    .await;
    assert_eq!(status, 200, "{enabled}");
    assert_eq!(enabled["consecutiveFailures"], 0);
    assert!(enabled.get("disabledReason").is_none(), "{enabled}");
    let got = receiver.wait_for("bad", 4, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 4);
    let delivered = |log: &[Value]| log[0]["status"] == "delivered";
    let until = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let log = deliveries(&app, &bad).await;
        if delivered(&log) {
            assert_eq!(log[0]["attempts"], 4);
            assert_eq!(log[0]["lastStatusCode"], 200);
            break;
        }
        assert!(tokio::time::Instant::now() < until, "{log:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A manual retry sends a delivered one once more, its attempts counted afresh.
    let (status, retried) = call(&app, &app.token, reqwest::Method::POST, &retry_path, None).await;
    assert_eq!(status, 202, "{retried}");
    assert_eq!(retried["status"], "pending");
    assert_eq!(retried["attempts"], 0);
    let got = receiver.wait_for("bad", 5, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 5);
    assert_eq!(got[4]["webhook_id"], got[0]["webhook_id"]);
    app.stop().await;
}

#[tokio::test]
async fn a_delivery_failing_for_the_whole_retry_window_is_given_up_and_its_webhook_disabled() {
    let app = app_for_webhooks(|s| {
        s.webhook_retry_for = Duration::from_secs(1);
        s.webhook_retry_base = Duration::from_millis(200);
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.behave("down", json!({"status": 503})).await;
    let hook = create_webhook(&app, &receiver.url("down"), json!(["webhook.test"])).await;
    send_test(&app, &hook).await;
    let state = until_webhook(&app, &hook, Duration::from_secs(20), |w| {
        w["enabled"] == false
    })
    .await;
    assert!(
        state["disabledReason"]
            .as_str()
            .unwrap()
            .contains("retry window"),
        "{state}"
    );
    let log = deliveries(&app, &hook).await;
    assert_eq!(log[0]["status"], "failed", "{log:?}");
    assert!(log[0].get("nextAttemptAt").is_none(), "{log:?}");
    assert!(log[0]["finishedAt"].is_string());
    let attempts = log[0]["attempts"].as_i64().unwrap();
    // A busy machine may get fewer in before the window closes, never none.
    assert!((1..=8).contains(&attempts), "{log:?}");
    assert_eq!(receiver.received("down").await.len() as i64, attempts);
    app.stop().await;
}

#[tokio::test]
async fn a_rotated_secret_signs_beside_the_old_one_for_the_grace_period_only() {
    let app = app_for_webhooks(|s| s.webhook_secret_grace = Duration::from_secs(3)).await;
    let receiver = Receiver::start().await;
    let hook = create_webhook(&app, &receiver.url("r"), json!(["webhook.test"])).await;
    let old = hook["secret"].as_str().unwrap().to_string();
    let path = format!("/api/v2/webhooks/{}", hook["id"].as_str().unwrap());
    let (status, rotated) = call(
        &app,
        &app.token,
        reqwest::Method::PATCH,
        &path,
        Some(json!({"rotateSecret": true})),
    )
    .await;
    assert_eq!(status, 200, "{rotated}");
    let new = rotated["secret"].as_str().unwrap().to_string();
    assert_ne!(old, new);
    assert!(rotated["previousSecretUntil"].is_string(), "{rotated}");
    receiver.secrets("r", &[&old, &new]).await;

    send_test(&app, &hook).await;
    let got = receiver.wait_for("r", 1, Duration::from_secs(10)).await;
    // Both signatures are sent: a receiver holding either secret verifies.
    assert_eq!(got[0]["verified_with"], json!([0, 1]), "{:?}", got[0]);
    assert_eq!(
        got[0]["webhook_signature"]
            .as_str()
            .unwrap()
            .split(' ')
            .count(),
        2
    );

    tokio::time::sleep(Duration::from_secs(4)).await;
    send_test(&app, &hook).await;
    let got = receiver.wait_for("r", 2, Duration::from_secs(10)).await;
    assert_eq!(got[1]["verified_with"], json!([1]), "{:?}", got[1]);
    assert!(
        webhook_state(&app, &hook)
            .await
            .get("previousSecretUntil")
            .is_none()
    );
    app.stop().await;
}

#[tokio::test]
async fn a_receiver_that_never_answers_is_timed_out_and_slows_no_other_organisation() {
    let app = app_for_webhooks(|s| {
        // Long enough that a delivery waiting for a hanging one's slot would show.
        s.webhook_timeout = Duration::from_millis(3_000);
        s.webhook_concurrency = 6;
        s.webhook_endpoint_concurrency = 2;
        s.webhook_org_concurrency = 4;
    })
    .await;
    let receiver = Receiver::start().await;
    receiver.behave("hang", json!({"hang": true})).await;
    let hanging = create_webhook(&app, &receiver.url("hang"), json!(["webhook.test"])).await;
    // A neighbour in the same organisation, whose room the hanging one's backlog must
    // not take: it holds 2 of the organisation's 4.
    let neighbour = create_webhook(&app, &receiver.url("near"), json!(["webhook.test"])).await;
    for _ in 0..10 {
        send_test(&app, &hanging).await;
    }
    // Another organisation's webhook on the same app.
    let (_, _, other_token) = onramp::storage::tokens::create(&app.pool, "org-other", None)
        .await
        .unwrap();
    let (status, other) = call(
        &app,
        &other_token,
        reqwest::Method::POST,
        "/api/v2/webhooks",
        Some(json!({"url": receiver.url("fine"), "events": ["webhook.test"]})),
    )
    .await;
    assert_eq!(status, 201, "{other}");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = std::time::Instant::now();
    let path = format!("/api/v2/webhooks/{}/test", other["id"].as_str().unwrap());
    let (status, _) = call(&app, &other_token, reqwest::Method::POST, &path, None).await;
    assert_eq!(status, 202);
    let got = receiver.wait_for("fine", 1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    // Delivered while the hanging organisation's ten wait their turn behind its cap.
    assert!(
        started.elapsed() < Duration::from_millis(2_000),
        "{:?}",
        started.elapsed()
    );
    let started = std::time::Instant::now();
    send_test(&app, &neighbour).await;
    let got = receiver.wait_for("near", 1, Duration::from_secs(10)).await;
    assert_eq!(got.len(), 1);
    assert!(
        started.elapsed() < Duration::from_millis(2_000),
        "the neighbour waited {:?}",
        started.elapsed()
    );
    // Never more than the endpoint's cap (2) in flight: each attempt holds its slot
    // until the timeout, so no three start within less than it.
    let starts: Vec<f64> = receiver
        .received("hang")
        .await
        .iter()
        .map(|r| r["received_at"].as_f64().unwrap())
        .collect();
    for (i, t) in starts.iter().enumerate() {
        let overlapping = starts[i..].iter().filter(|u| **u - t < 2.5).count();
        assert!(overlapping <= 2, "{starts:?}");
    }

    let until = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let log = deliveries(&app, &hanging).await;
        let timed_out: Vec<&Value> = log
            .iter()
            .filter(|d| d["attempts"].as_i64() >= Some(1))
            .collect();
        if timed_out.len() >= 2 {
            for d in timed_out {
                assert!(
                    d["lastError"]
                        .as_str()
                        .unwrap()
                        .contains("did not answer in time"),
                    "{d}"
                );
                assert!(d.get("lastStatusCode").is_none(), "{d}");
                let ms = d["lastDurationMs"].as_i64().unwrap();
                assert!((2_900..10_000).contains(&ms), "{d}");
            }
            break;
        }
        assert!(tokio::time::Instant::now() < until, "{log:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn a_redirect_is_an_answer_not_a_place_to_follow() {
    let app = app_for_webhooks(|s| s.webhook_max_failures = 1).await;
    let receiver = Receiver::start().await;
    receiver
        .behave(
            "moved",
            json!({"status": 302, "location": receiver.url("elsewhere")}),
        )
        .await;
    let hook = create_webhook(&app, &receiver.url("moved"), json!(["webhook.test"])).await;
    send_test(&app, &hook).await;
    until_webhook(&app, &hook, Duration::from_secs(10), |w| {
        w["enabled"] == false
    })
    .await;
    let log = deliveries(&app, &hook).await;
    assert_eq!(log[0]["lastStatusCode"], 302, "{log:?}");
    assert!(
        log[0]["lastError"]
            .as_str()
            .unwrap()
            .contains("redirects are not followed")
    );
    assert_eq!(receiver.received("moved").await.len(), 1);
    assert!(receiver.received("elsewhere").await.is_empty());
    app.stop().await;
}

#[tokio::test]
async fn bad_webhooks_are_refused_field_by_field_and_each_organisation_sees_only_its_own() {
    let app = app_for_webhooks(|_| {}).await;
    let cases = [
        (
            json!({"url": "http://hooks.example/x", "events": ["*"]}),
            "url",
        ),
        (json!({"url": "ftp://127.0.0.1/x", "events": ["*"]}), "url"),
        (
            json!({"url": "https://u:p@hooks.example/x", "events": ["*"]}),
            "url",
        ),
        // onramp's own API is never a webhook.
        (
            json!({"url": format!("{}/api/v2/webhooks", app.address), "events": ["*"]}),
            "url",
        ),
        (
            json!({"url": "https://hooks.example/x", "events": ["datasource.nope"]}),
            "events[0]",
        ),
        (
            json!({"url": "https://hooks.example/x", "events": []}),
            "events",
        ),
        (json!({"url": "https://hooks.example/x"}), "events"),
        (
            json!({"url": "https://hooks.example/x", "events": ["*"], "extra": 1}),
            "extra",
        ),
        (
            json!({"url": "https://hooks.example/x", "events": ["*"], "description": "a\u{7}b"}),
            "description",
        ),
    ];
    for (body, field) in cases {
        let (status, answer) = call(
            &app,
            &app.token,
            reqwest::Method::POST,
            "/api/v2/webhooks",
            Some(body.clone()),
        )
        .await;
        assert_eq!(status, 400, "{body} → {answer}");
        let fields: Vec<&str> = answer["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d["field"].as_str())
            .collect();
        assert!(fields.contains(&field), "{body} → {answer}");
    }
    let hook = create_webhook(
        &app,
        "https://hooks.example/x",
        json!(["datasource.ready", "datasource.failed"]),
    )
    .await;
    let id = hook["id"].as_str().unwrap();
    let (_, _, other) = onramp::storage::tokens::create(&app.pool, "org-else", None)
        .await
        .unwrap();
    for (method, path) in [
        (reqwest::Method::GET, format!("/api/v2/webhooks/{id}")),
        (reqwest::Method::DELETE, format!("/api/v2/webhooks/{id}")),
        (reqwest::Method::POST, format!("/api/v2/webhooks/{id}/test")),
        (
            reqwest::Method::GET,
            format!("/api/v2/webhooks/{id}/deliveries"),
        ),
        (
            reqwest::Method::GET,
            "/api/v2/webhooks/not-a-uuid".to_string(),
        ),
    ] {
        let (status, answer) = call(&app, &other, method.clone(), &path, None).await;
        assert_eq!(status, 404, "{method} {path} → {answer}");
        assert_eq!(answer["error"]["code"], "WEBHOOK_NOT_FOUND");
    }
    let (_, listed) = call(&app, &other, reqwest::Method::GET, "/api/v2/webhooks", None).await;
    assert_eq!(listed["pagination"]["total"], 0, "{listed}");
    let (_, listed) = call(
        &app,
        &app.token,
        reqwest::Method::GET,
        "/api/v2/webhooks",
        None,
    )
    .await;
    assert_eq!(listed["pagination"]["total"], 1, "{listed}");
    assert!(listed["data"][0].get("secret").is_none());
    let path = format!("/api/v2/webhooks/{id}");
    let (status, answer) = call(
        &app,
        &app.token,
        reqwest::Method::PATCH,
        &path,
        Some(json!({})),
    )
    .await;
    assert_eq!(status, 400, "{answer}");
    let (status, _) = call(&app, &app.token, reqwest::Method::DELETE, &path, None).await;
    assert_eq!(status, 200);
    let (status, _) = call(&app, &app.token, reqwest::Method::GET, &path, None).await;
    assert_eq!(status, 404);
    app.stop().await;
}
