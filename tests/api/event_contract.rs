//! The events onramp really publishes validate against the AsyncAPI document
//! (schemas/asyncapi.yaml), checked by tests/servers/asyncapi/check_events.py with
//! the `jsonschema` package: every type, from real jobs, deletes, syncs and webhooks.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;

use crate::helpers::events::Subscriber;
use crate::helpers::receiver::{Receiver, VENV_PYTHON};
use crate::helpers::targets::{pg_admin, pg_credentials, pg_schema};
use crate::helpers::{body, spawn_with, unique};

#[tokio::test]
async fn every_event_type_as_published_validates_against_the_asyncapi_document() {
    let app = spawn_with(|s| {
        s.webhook_allow_http_loopback = true;
        s.webhook_max_failures = 1;
        s.database_pool_size = 10;
    })
    .await;
    let mut subscriber = Subscriber::events(&app.settings).await;
    let receiver = Receiver::start().await;
    receiver.behave("down", json!({"status": 500})).await;
    let hook: Value = app
        .client
        .post(app.url("/api/v2/webhooks"))
        .bearer_auth(&app.token)
        .json(&json!({"url": receiver.url("down"), "events": ["webhook.test"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();

    let schema = unique("s");
    pg_schema(&schema).await;
    let ok = app
        .create_and_wait(&body("postgres", pg_credentials("contract", &schema)))
        .await;
    assert_eq!(ok["status"], "succeeded", "{ok}");
    pg_admin()
        .await
        .batch_execute(&format!("CREATE TABLE {schema}.added (id int PRIMARY KEY)"))
        .await
        .unwrap();
    let synced = app.sync_and_wait("contract").await;
    assert_eq!(synced["status"], "succeeded", "{synced}");
    let mut refused = pg_credentials("refused", &schema);
    refused["username"] = json!(unique("nobody"));
    let failed = app.create_and_wait(&body("postgres", refused)).await;
    assert_eq!(failed["status"], "failed", "{failed}");
    let deleted = app
        .client
        .delete(app.url("/api/v2/datasource?datasourceName=contract"))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 200);
    // A failing test delivery disables the webhook: webhook.disabled on the exchange.
    let tested = app
        .client
        .post(app.url(&format!(
            "/api/v2/webhooks/{}/test",
            hook["id"].as_str().unwrap()
        )))
        .bearer_auth(&app.token)
        .send()
        .await
        .unwrap();
    assert_eq!(tested.status(), 202);
    subscriber
        .next_of("webhook.disabled", Duration::from_secs(15))
        .await
        .expect("webhook.disabled is published");

    let mut events: Vec<Value> = subscriber
        .drain(Duration::from_millis(500))
        .await
        .into_iter()
        .map(|r| r.body)
        .collect();
    // What the broker carried before the disabled event was skipped by next_of: the
    // stored copies (the replay table) hold every event of the organisation.
    let stored: Vec<Value> = sqlx::query_scalar("SELECT event FROM events ORDER BY txid, seq")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    events.extend(stored);
    // webhook.test goes to its webhook only: the delivery is what was sent.
    let sent: Vec<Value> = sqlx::query_scalar("SELECT event FROM webhook_deliveries")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    events.extend(sent);

    let types: BTreeSet<&str> = events.iter().filter_map(|e| e["type"].as_str()).collect();
    let all: BTreeSet<&str> = onramp::domain::webhooks::EVENT_TYPES.into_iter().collect();
    assert_eq!(types, all, "every type was produced");

    let doc = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/asyncapi.yaml");
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/servers/asyncapi/check_events.py"
    );
    let mut child = tokio::process::Command::new(VENV_PYTHON)
        .args([script, doc])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    for e in &events {
        stdin.write_all(format!("{e}\n").as_bytes()).await.unwrap();
    }
    drop(stdin);
    let out = child.wait_with_output().await.unwrap();
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{report}");
    assert!(
        report.contains(&format!("{} events valid", events.len())),
        "{report}"
    );
    app.stop().await;
}
