//! Requests a token holder can send to hurt the service itself: oversized bodies on
//! every route, methods that would mint metric series, page numbers past any page,
//! streams held open without end, and what the idempotency record keeps.

use std::time::Duration;

use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::proxy::silent_server;
use crate::helpers::targets::pg_credentials;
use crate::helpers::{body, spawn_app, spawn_with};

#[tokio::test]
async fn every_body_over_the_limit_gets_413_put_sync_and_a_multipart_request_part_too() {
    let app = spawn_with(|s| s.body_limit_bytes = 4096).await;
    let mut big = pg_credentials("big", "public");
    big["password"] = json!("p".repeat(8000));
    let big = body("postgres", big);
    let put = app
        .client
        .put(app.url("/api/v2/datasource"))
        .bearer_auth(&app.token)
        .json(&big)
        .send()
        .await
        .unwrap();
    let sync = app
        .client
        .post(app.url("/api/v2/datasource/sync"))
        .bearer_auth(&app.token)
        .json(&json!({"datasourceName": "x".repeat(8000)}))
        .send()
        .await
        .unwrap();
    let form = reqwest::multipart::Form::new().text("request", big.to_string());
    let multipart = app
        .client
        .post(app.url("/api/v2/datasource"))
        .bearer_auth(&app.token)
        .multipart(form)
        .send()
        .await
        .unwrap();
    for (route, answer) in [("put", put), ("sync", sync), ("multipart", multipart)] {
        assert_eq!(answer.status(), 413, "{route}");
        let answer: Value = answer.json().await.unwrap();
        assert_eq!(answer["error"]["code"], "PAYLOAD_TOO_LARGE", "{route}");
    }
    app.stop().await;
}

#[tokio::test]
async fn an_invented_method_is_one_metric_label_and_routes_are_templates() {
    let app = spawn_app().await;
    for method in ["FOOBAR123", "XYZZY"] {
        let _ = app
            .client
            .request(
                reqwest::Method::from_bytes(method.as_bytes()).unwrap(),
                app.url("/api/v2/datasource/some-name"),
            )
            .bearer_auth(&app.token)
            .send()
            .await
            .unwrap();
    }
    let _ = app
        .get("/api/v2/datasource/a-raw-name-that-must-not-be-a-label")
        .await;
    let metrics = app.get("/metrics").await.text().await.unwrap();
    assert!(
        !metrics.contains("FOOBAR123") && !metrics.contains("XYZZY"),
        "{metrics}"
    );
    assert!(metrics.contains("method=\"other\""), "{metrics}");
    assert!(!metrics.contains("a-raw-name-that-must-not-be-a-label"));
    assert!(
        metrics.contains("route=\"/api/v2/datasource/{name}\""),
        "{metrics}"
    );
    app.stop().await;
}

#[tokio::test]
async fn page_numbers_past_any_page_and_malformed_queries_get_400_in_json() {
    let app = spawn_app().await;
    for query in [
        "isPagination=true&pageNumber=936283037002318",
        "pageNumber=936283037002318",
        "isPagination=true&pageNumber=0",
        "isPagination=true&pageSize=100000",
        "pageNumber=abc",
        "isPagination=maybe",
    ] {
        let answer = app.get(&format!("/api/v2/datasource?{query}")).await;
        assert_eq!(answer.status(), 400, "{query}");
        assert_eq!(
            answer.headers()["content-type"].to_str().unwrap(),
            "application/json",
            "{query}"
        );
        let answer: Value = answer.json().await.unwrap();
        assert_eq!(answer["error"]["code"], "INVALID_REQUEST_BODY", "{query}");
    }
    let wait = app
        .client
        .post(app.url("/api/v2/datasource?wait=soon"))
        .bearer_auth(&app.token)
        .json(&body("postgres", pg_credentials("w", "public")))
        .send()
        .await
        .unwrap();
    assert_eq!(wait.status(), 400);
    app.stop().await;
}

#[tokio::test]
async fn the_idempotency_record_holds_no_digest_a_password_guess_could_be_tested_against() {
    let app = spawn_app().await;
    let request = body("postgres", {
        let mut c = pg_credentials("idem", "public");
        c["password"] = json!("hunter2");
        c
    });
    let send = |request: Value| {
        app.client
            .post(app.url("/api/v2/datasource"))
            .bearer_auth(&app.token)
            .header("Idempotency-Key", "k-1")
            .json(&request)
            .send()
    };
    let first: Value = send(request.clone()).await.unwrap().json().await.unwrap();
    let stored: Vec<u8> = sqlx::query_scalar("SELECT request_hash FROM idempotency_keys")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    // What the API fingerprints: the parsed body written back out (keys in order).
    let canonical = serde_json::to_vec(&request).unwrap();
    assert_ne!(stored, Sha256::digest(&canonical).to_vec());
    assert_eq!(stored.len(), 32);
    // The record still does its work.
    let again: Value = send(request.clone()).await.unwrap().json().await.unwrap();
    assert_eq!(again["jobId"], first["jobId"]);
    let mut other = request.clone();
    other["credentials"]["password"] = json!("hunter3");
    assert_eq!(send(other).await.unwrap().status(), 400);
    app.stop().await;
}

/// A create whose job waits on a silent server for a long while.
fn slow_request(name: &str, port: u16) -> Value {
    let mut c = pg_credentials(name, "public");
    c["port"] = json!(port);
    body("postgres", c)
}

#[tokio::test]
async fn streams_are_bounded_per_organisation_and_in_time_and_end_when_the_token_is_revoked() {
    let (port, _server) = silent_server().await;
    let app = spawn_with(|s| {
        s.streams_per_org = 2;
        s.stream_max = Duration::from_secs(2);
        s.connect_timeout = Duration::from_millis(60_000);
        s.discover_timeout = Duration::from_millis(60_000);
    })
    .await;
    let job = app.accept(&slow_request("slow", port)).await;
    let events = format!("/api/v2/jobs/{}/events", job["jobId"].as_str().unwrap());
    let first = app.get(&events).await;
    let second = app.get(&events).await;
    assert_eq!(
        (first.status().as_u16(), second.status().as_u16()),
        (200, 200)
    );
    let third = app.get(&events).await;
    assert_eq!(third.status(), 429);
    let third: Value = third.json().await.unwrap();
    assert_eq!(third["error"]["code"], "TOO_MANY_REQUESTS");
    // A wait is a stream too.
    let waited = app
        .client
        .post(app.url("/api/v2/datasource?wait=30"))
        .bearer_auth(&app.token)
        .json(&slow_request("slow-2", port))
        .send()
        .await
        .unwrap();
    assert_eq!(waited.status(), 429);
    // A stream ends by itself after stream_max_seconds while its job still runs.
    let started = std::time::Instant::now();
    let text = tokio::time::timeout(Duration::from_secs(15), first.text())
        .await
        .expect("the stream ended on its own")
        .unwrap();
    assert!(text.contains("event: job"), "{text}");
    assert!(started.elapsed() < Duration::from_secs(10));
    drop(second);
    app.stop().await;
}

#[tokio::test]
async fn a_revoked_token_ends_its_streams_within_about_a_second() {
    let (port, _server) = silent_server().await;
    let app = spawn_with(|s| {
        s.stream_max = Duration::from_secs(600);
        s.connect_timeout = Duration::from_millis(60_000);
    })
    .await;
    let job = app.accept(&slow_request("slow", port)).await;
    let events = format!("/api/v2/jobs/{}/events", job["jobId"].as_str().unwrap());
    let (_, _, token) =
        onramp::storage::tokens::create(&app.pool, &format!("org-{}", app.id), None)
            .await
            .unwrap();
    let held = app
        .client
        .get(app.url(&events))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(held.status(), 200);
    let other = app.get(&events).await;
    let ended = tokio::spawn(async move {
        let _ = held.text().await;
        std::time::Instant::now()
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    let revoked_at = std::time::Instant::now();
    assert!(
        onramp::storage::tokens::revoke(&app.pool, &token)
            .await
            .unwrap()
    );
    let ended_at = tokio::time::timeout(Duration::from_secs(10), ended)
        .await
        .unwrap()
        .unwrap();
    let took = ended_at.duration_since(revoked_at);
    assert!(took < Duration::from_millis(1800), "{took:?}");
    // A stream of another token goes on.
    let mut other = other;
    let still = tokio::time::timeout(Duration::from_millis(500), other.chunk()).await;
    assert!(
        still.is_err() || still.unwrap().unwrap().is_some(),
        "the other stream ended too"
    );
    app.stop().await;
}

#[tokio::test]
async fn many_watchers_of_jobs_share_one_poller() {
    let (port, _server) = silent_server().await;
    let app = spawn_with(|s| {
        s.streams_per_org = 64;
        s.connect_timeout = Duration::from_millis(60_000);
    })
    .await;
    let job = app.accept(&slow_request("watched", port)).await;
    let events = format!("/api/v2/jobs/{}/events", job["jobId"].as_str().unwrap());
    let queries = |metrics: &str| -> f64 {
        metrics
            .lines()
            .find(|l| l.starts_with("onramp_stream_poller_queries_total"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or(0.0)
    };
    let before = queries(&app.get("/metrics").await.text().await.unwrap());
    let mut held = Vec::new();
    for _ in 0..30 {
        held.push(app.get(&events).await);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    let during = queries(&app.get("/metrics").await.text().await.unwrap()) - before;
    // One poller every 150 ms: about 20 queries in 3 s for all 30 watchers, where a
    // loop per client at 100 ms would have made 900.
    assert!(
        during > 0.0 && during < 40.0,
        "{during} poller queries for 30 streams in 3 s"
    );
    drop(held);
    app.stop().await;
}
