//! Targets that answer as an attacker would: endless bodies, huge error texts, and a
//! bug that panics. Each fails its own job, precisely; the worker and every other
//! job go on.

use std::time::Duration;

use futures::future::BoxFuture;
use onramp::egress::{Resolver, SystemConnector, SystemResolver};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::helpers::hostile::{Answer, peak_rss, serve};
use crate::helpers::targets::pg_credentials;
use crate::helpers::{body, broker, queue_length, spawn_app, spawn_with, spawn_with_guard, unique};

const ES_ROOT: &str = r#"{"version":{"number":"8.15.0","distribution":"elasticsearch"},"tagline":"You Know, for Search"}"#;

#[tokio::test]
async fn an_endless_answer_fails_its_job_at_the_size_limit_and_memory_stays_bounded() {
    // 10 GB on every listing the connector reads, as fast as loopback carries it.
    let (port, _server) = serve(|path| {
        if path == "/" {
            Answer::Json(ES_ROOT.into())
        } else {
            Answer::Endless { bytes: 10 << 30 }
        }
    })
    .await;
    let limit = 8 << 20;
    let app = spawn_with(|s| s.target_response_max_bytes = limit).await;
    // The process's high-water mark: nextest runs each test in a process of its own,
    // so what it grows by here is this job's doing.
    let before = peak_rss();
    let job = app
        .create_and_wait(&body(
            "elasticsearch",
            json!({"name": "bomb", "url": format!("http://127.0.0.1:{port}"), "indexPattern": "*"}),
        ))
        .await;
    let grown = peak_rss().saturating_sub(before);
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(job["error"]["code"], "SCHEMA_CACHE_FAILED", "{job}");
    let message = job["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("target_response_max_bytes") && message.contains(&limit.to_string()),
        "{message}"
    );
    // The three listings are read at once, each stopped at the limit: the stated
    // bound is the limit per read in flight, plus the process's working margin.
    assert!(
        grown < 3 * limit as u64 + (48 << 20),
        "peak RSS grew by {} MiB reading a 10 GB answer",
        grown >> 20
    );
    // The worker is still there for the next job.
    let ok = app
        .create_and_wait(&body("postgres", pg_credentials("after", "public")))
        .await;
    assert_eq!(ok["status"], "succeeded", "{ok}");
    app.stop().await;
}

/// A PostgreSQL "server" that answers every login with an error of `size` bytes.
async fn pg_that_answers_with_an_error_of(size: usize) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut len = [0u8; 4];
                loop {
                    if s.read_exact(&mut len).await.is_err() {
                        return;
                    }
                    let n = u32::from_be_bytes(len) as usize;
                    let mut rest = vec![0u8; n.saturating_sub(4)];
                    if s.read_exact(&mut rest).await.is_err() {
                        return;
                    }
                    // SSLRequest: no TLS here; then the startup message.
                    if n == 8 && rest == [0x04, 0xd2, 0x16, 0x2f] {
                        let _ = s.write_all(b"N").await;
                        continue;
                    }
                    break;
                }
                let mut fields = Vec::new();
                for (code, text) in [
                    (b'S', "FATAL".to_string()),
                    (b'V', "FATAL".into()),
                    (b'C', "28P01".into()),
                    (b'M', "x".repeat(size)),
                ] {
                    fields.push(code);
                    fields.extend_from_slice(text.as_bytes());
                    fields.push(0);
                }
                fields.push(0);
                let mut message = vec![b'E'];
                message.extend_from_slice(&((fields.len() + 4) as u32).to_be_bytes());
                message.extend_from_slice(&fields);
                let _ = s.write_all(&message).await;
            });
        }
    });
    port
}

#[tokio::test]
async fn a_servers_huge_error_text_is_cut_before_it_reaches_the_job_and_its_events() {
    let app = spawn_app().await;
    let mut events = crate::helpers::events::Subscriber::events(&app.settings).await;
    let pg = pg_that_answers_with_an_error_of(17 << 20).await;
    let mut c = pg_credentials("pg-huge", "public");
    c["port"] = json!(pg);
    let (trino, _server) = serve(|_| Answer::Status(500, "y".repeat(17 << 20))).await;
    let trino_credentials = json!({"name": "trino-huge", "host": "127.0.0.1", "port": trino, "user": "u", "catalog": "hive", "ssl": false});
    for (ty, credentials) in [("postgres", c), ("trino", trino_credentials)] {
        let job = app.create_and_wait(&body(ty, credentials)).await;
        assert_eq!(job["status"], "failed", "{job}");
        let message = job["error"]["message"].as_str().unwrap();
        assert!(message.len() < 5 * 1024, "{ty}: {} bytes", message.len());
        assert!(
            message.contains("[cut: "),
            "{ty}: {}",
            &message[message.len() - 60..]
        );
        for step in job["steps"].as_array().unwrap() {
            assert!(step["message"].as_str().unwrap_or("").len() < 5 * 1024);
        }
        // The failed event was published (nothing too large stalled the relay) and
        // carries the same cut text.
        let failed = events
            .next_of("datasource.failed", Duration::from_secs(10))
            .await
            .expect("a failed event");
        assert!(failed.body.to_string().len() < 16 * 1024, "{ty}");
    }
    app.stop().await;
}

/// Resolves like the system, except one name whose lookup hits a bug (a panic), as a
/// server's answer reaching a bug in a connector would.
struct PanickingResolver;

impl Resolver for PanickingResolver {
    fn resolve<'a>(
        &'a self,
        host: &'a str,
        port: u16,
    ) -> BoxFuture<'a, std::io::Result<Vec<std::net::SocketAddr>>> {
        Box::pin(async move {
            if host == "panic.test" {
                panic!("a bug reached by a server's answer: secret internals");
            }
            SystemResolver.resolve(host, port).await
        })
    }
}

#[tokio::test]
async fn a_panicking_job_fails_alone_is_dead_lettered_and_the_worker_keeps_its_slots() {
    let app = spawn_with_guard(
        std::sync::Arc::new(PanickingResolver),
        std::sync::Arc::new(SystemConnector),
    )
    .await;
    let concurrency = app.settings.worker_concurrency;
    // More panicking jobs than the worker has slots: a lost slot per panic would
    // leave nothing to run the last job with.
    for i in 0..concurrency + 2 {
        let mut c = pg_credentials(&format!("panic-{i}"), "public");
        c["host"] = json!("panic.test");
        let job = app.create_and_wait(&body("postgres", c)).await;
        assert_eq!(job["status"], "failed", "{job}");
        assert_eq!(job["error"]["code"], "INTERNAL_SERVER_ERROR", "{job}");
        let text = job.to_string();
        assert!(!text.contains("secret internals"), "{text}");
        assert!(
            job["error"]["message"]
                .as_str()
                .unwrap()
                .contains("error id"),
            "{job}"
        );
        assert_eq!(job["steps"][1]["status"], "failed", "{job}");
    }
    let ok = app
        .create_and_wait(&body("postgres", pg_credentials("after-panics", "public")))
        .await;
    assert_eq!(ok["status"], "succeeded", "{ok}");
    // Each panicked job's message went to the dead-letter queue.
    let (conn, ch) = broker().await;
    let mut dead = 0;
    for _ in 0..50 {
        dead = queue_length(&ch, &app.settings.dead_letter_queue()).await;
        if dead as usize == concurrency + 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(dead as usize, concurrency + 2);
    let _ = conn.close(200, "done".into()).await;
    app.stop().await;
}

#[tokio::test]
async fn onramps_own_database_broker_and_cache_are_never_a_datasource() {
    let app = spawn_app().await;
    // Redis and RabbitMQ of this very app, by the address it reaches them at.
    for (ty, credentials) in [
        ("postgres", {
            let mut c = pg_credentials("own-redis", "public");
            c["port"] = json!(6379);
            c
        }),
        (
            "clickhouse",
            json!({"name": "own-broker", "host": "127.0.0.1", "port": 5672, "database": "default"}),
        ),
        (
            "elasticsearch",
            json!({"name": "own-cache-http", "url": "http://localhost:6379", "indexPattern": "*"}),
        ),
        (
            "elasticsearch",
            json!({"name": "own-api", "url": app.address.clone(), "indexPattern": "*"}),
        ),
    ] {
        let job = app.create_and_wait(&body(ty, credentials)).await;
        assert_eq!(job["error"]["code"], "EGRESS_DENIED", "{ty}: {job}");
        let message: &str = job["error"]["message"].as_str().unwrap();
        assert!(message.contains("onramp's own services"), "{message}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_value_holding_the_servers_text_is_bounded_in_the_snapshot() {
    // A table comment of 1 MiB (PostgreSQL allows it): kept, cut to a few KiB.
    let schema = unique("s");
    let admin = crate::helpers::targets::pg_admin().await;
    admin
        .batch_execute(&format!(
            "CREATE SCHEMA \"{schema}\"; CREATE TABLE \"{schema}\".t (a int); COMMENT ON TABLE \"{schema}\".t IS '{}'",
            "c".repeat(1 << 20)
        ))
        .await
        .unwrap();
    let app = spawn_app().await;
    let snapshot: Value = app
        .onboard("postgres", pg_credentials("long-comment", &schema))
        .await;
    let comment = crate::helpers::table(&snapshot, "t")["comment"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        comment.len() < 5 * 1024 && comment.contains("[cut: "),
        "{}",
        comment.len()
    );
    crate::helpers::targets::drop_pg_schema(&schema).await;
    app.stop().await;
}

#[tokio::test]
async fn an_endless_s3_listing_fails_at_the_size_limit_through_the_aws_sdk() {
    // The AWS SDK reads a listing whole before parsing it: onramp's cap on its
    // HTTP client's answers is what stops this one.
    let (port, _server) = serve(|_| Answer::Endless { bytes: 10 << 30 }).await;
    let limit = 8 << 20;
    let app = spawn_with(|s| s.target_response_max_bytes = limit).await;
    let before = peak_rss();
    let job = app
        .create_and_wait(&body(
            "awss3",
            json!({"name": "s3-bomb", "region": "us-east-1", "bucket": "bomb", "accessKeyId": "AKID",
                   "secretAccessKey": "s", "endpoint": format!("http://127.0.0.1:{port}")}),
        ))
        .await;
    let grown = peak_rss().saturating_sub(before);
    assert_eq!(job["status"], "failed", "{job}");
    let message = job["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("target_response_max_bytes") && message.contains(&limit.to_string()),
        "{job}"
    );
    assert_eq!(job["attempts"], 1, "a limit is final, not retried: {job}");
    assert!(
        grown < 2 * limit as u64 + (48 << 20),
        "peak RSS grew by {} MiB reading a 10 GB listing",
        grown >> 20
    );
    app.stop().await;
}
