//! A request's trace continues into the worker through the job message, and both
//! sides' spans reach an OTLP collector (a loopback fake that records what arrives).

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::post;
use serde_json::Value;

use crate::helpers::process::{env_for, signal};
use crate::helpers::targets::pg_credentials;
use crate::helpers::{body, cleanup, test_settings, unique};

/// Every span of every OTLP/JSON export: (traceId, spanId, parentSpanId, name).
fn spans(exports: &[Value]) -> Vec<(String, String, String, String)> {
    let mut out = Vec::new();
    for export in exports {
        for rs in export["resourceSpans"].as_array().into_iter().flatten() {
            for ss in rs["scopeSpans"].as_array().into_iter().flatten() {
                for span in ss["spans"].as_array().into_iter().flatten() {
                    let text = |k: &str| span[k].as_str().unwrap_or_default().to_lowercase();
                    out.push((
                        text("traceId"),
                        text("spanId"),
                        text("parentSpanId"),
                        text("name"),
                    ));
                }
            }
        }
    }
    out
}

#[tokio::test]
async fn the_api_and_worker_spans_of_one_request_share_its_trace_and_reach_the_collector() {
    let received: Arc<Mutex<Vec<Value>>> = Arc::default();
    let sink = received.clone();
    let collector = axum::Router::new().route(
        "/v1/traces",
        post(move |body: axum::body::Bytes| {
            let sink = sink.clone();
            async move {
                if let Ok(v) = serde_json::from_slice::<Value>(&body) {
                    sink.lock().unwrap().push(v);
                }
                "{}"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let otlp = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, collector).await.unwrap() });

    let id = unique("t");
    let mut settings = test_settings(&id);
    settings.http_addr = format!("127.0.0.1:{}", crate::helpers::proxy::closed_port().await)
        .parse()
        .expect("an address");
    let log = std::env::temp_dir().join(format!("{id}-otel.log"));
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_onramp"))
        .arg("serve")
        .envs(env_for(&settings))
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{otlp}"))
        .stderr(std::fs::File::create(&log).unwrap())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let base = format!("http://{}", settings.http_addr);
    let client = reqwest::Client::new();
    let mut up = false;
    for _ in 0..200 {
        if client.get(format!("{base}/healthz")).send().await.is_ok() {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "serve did not start");
    let pool = sqlx::PgPool::connect(settings.database_url.expose())
        .await
        .unwrap();
    let (_, _, token) = onramp::storage::tokens::create(&pool, "traced", None)
        .await
        .unwrap();
    pool.close().await;

    let trace_id = uuid::Uuid::new_v4().simple().to_string();
    let caller_span = "00f067aa0ba902b7";
    let r = client
        .post(format!("{base}/api/v2/datasource?wait=20"))
        .bearer_auth(&token)
        .header("traceparent", format!("00-{trace_id}-{caller_span}-01"))
        .json(&body("postgres", pg_credentials("traced", "public")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // SIGTERM: the process exports what it still buffers before it exits.
    signal(&child, 15);
    let _ = tokio::time::timeout(Duration::from_secs(20), child.wait()).await;

    let spans = spans(&received.lock().unwrap());
    let ours: Vec<_> = spans.iter().filter(|s| s.0 == trace_id).collect();
    let request = ours
        .iter()
        .find(|s| s.3 == "http request" && s.2 == caller_span)
        .unwrap_or_else(|| panic!("no request span under the caller's span in {spans:?}"));
    let job = ours
        .iter()
        .find(|s| s.3 == "job")
        .unwrap_or_else(|| panic!("no job span in the caller's trace: {spans:?}"));
    assert_eq!(
        job.2, request.1,
        "the worker's span is a child of the request's span"
    );
    cleanup(&id, &settings).await;
}
