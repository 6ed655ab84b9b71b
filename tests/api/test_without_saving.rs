//! `POST /api/v2/datasource/test`: a create body run as a job of kind `test` that
//! records no datasource, stores no snapshot, publishes no `datasource.*` event and
//! is kept only for the retention period.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::events::Subscriber;
use crate::helpers::targets::*;
use crate::helpers::{TestApp, body, proxy, spawn_app, spawn_with, unique};

impl TestApp {
    async fn post_test(&self, query: &str, body: &Value) -> reqwest::Response {
        self.client
            .post(self.url(&format!("/api/v2/datasource/test{query}")))
            .bearer_auth(&self.token)
            .json(body)
            .send()
            .await
            .expect("request sent")
    }

    async fn redis_keys(&self) -> Vec<String> {
        let client = redis::Client::open("redis://127.0.0.1:6379/").unwrap();
        let mut conn = client.get_multiplexed_async_connection().await.unwrap();
        redis::cmd("KEYS")
            .arg(format!("{}:*", self.settings.prefix))
            .query_async(&mut conn)
            .await
            .unwrap()
    }
}

fn step_statuses(job: &Value) -> Vec<(String, String)> {
    job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["status"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

#[tokio::test]
async fn a_test_discovers_and_reports_but_records_no_datasource_snapshot_or_datasource_event() {
    let app = spawn_app().await;
    let schema = unique("s");
    pg_schema(&schema).await;
    let mut events = Subscriber::events(&app.settings).await;

    let response = app
        .post_test("", &body("postgres", pg_credentials("trial", &schema)))
        .await;
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let accepted: Value = response.json().await.unwrap();
    assert!(accepted.get("datasourceId").is_none(), "{accepted}");
    let job_id = accepted["jobId"].as_str().unwrap().to_string();
    assert_eq!(location, format!("/api/v2/jobs/{job_id}"));

    let job = app.wait_for_job(&job_id, Duration::from_secs(30)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(job["kind"], "test");
    assert_eq!(job["datasourceId"], Value::Null);
    assert_eq!(
        step_statuses(&job),
        [
            ("validate".to_string(), "passed".to_string()),
            ("connect".into(), "passed".into()),
            ("discover".into(), "passed".into()),
        ]
    );
    assert_eq!(job["schema"]["tables"], 3, "{job}");
    assert_eq!(job["schema"]["columns"], 13, "{job}");

    // Nothing recorded, cached or announced about a datasource.
    assert_eq!(app.count("datasources").await, 0);
    assert_eq!(
        app.count("test_inputs").await,
        0,
        "the credentials outlived the job"
    );
    assert_eq!(app.get("/api/v2/datasource/trial").await.status(), 404);
    assert!(
        app.redis_keys().await.is_empty(),
        "{:?}",
        app.redis_keys().await
    );
    let seen = events.drain(Duration::from_millis(1500)).await;
    assert!(!seen.is_empty(), "the job's progress is published");
    for e in &seen {
        let ty = e.body["type"].as_str().unwrap_or_default();
        assert_eq!(ty, "job.progress", "{}", e.body);
        assert_eq!(e.body["data"]["datasourceId"], Value::Null);
    }

    app.stop().await;
    drop_pg_schema(&schema).await;
}

#[tokio::test]
async fn a_test_waits_like_a_create_and_a_failing_one_answers_with_the_targets_error() {
    let app = spawn_app().await;
    let schema = unique("s");
    pg_schema(&schema).await;
    let mut events = Subscriber::events(&app.settings).await;

    let response = app
        .post_test(
            "?wait=20",
            &body("postgres", pg_credentials("trial", &schema)),
        )
        .await;
    assert_eq!(response.status(), 200);
    let waited: Value = response.json().await.unwrap();
    assert_eq!(waited["schema"]["tables"], 3, "{waited}");

    let mut refused = pg_credentials("trial", &schema);
    refused["port"] = json!(proxy::closed_port().await);
    let response = app.post_test("?wait=20", &body("postgres", refused)).await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "CREDENTIAL_TEST_FAILED", "{error}");
    assert!(
        error["error"]["hint"]
            .as_str()
            .is_some_and(|h| !h.is_empty()),
        "{error}"
    );

    let seen = events.drain(Duration::from_millis(1500)).await;
    assert!(
        seen.iter().all(|e| e.body["type"] == "job.progress"),
        "{:?}",
        seen.iter().map(|e| &e.body["type"]).collect::<Vec<_>>()
    );
    assert_eq!(app.count("datasources").await, 0);
    assert_eq!(app.count("test_inputs").await, 0);

    app.stop().await;
    drop_pg_schema(&schema).await;
}

#[tokio::test]
async fn a_test_is_checked_as_a_create_is_and_may_bear_a_taken_name() {
    let app = spawn_app().await;
    let schema = unique("s");
    pg_schema(&schema).await;

    // The shape is checked at the API, before anything is recorded.
    let response = app
        .post_test(
            "",
            &body("postgres", json!({"name": "trial", "host": "127.0.0.1"})),
        )
        .await;
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "INVALID_REQUEST_BODY", "{error}");
    assert_eq!(app.count("jobs").await, 0);

    // A datasource named `test` (and `sync`) is still read at its own path.
    for name in ["test", "sync"] {
        let job = app
            .create_and_wait(&body("postgres", pg_credentials(name, &schema)))
            .await;
        assert_eq!(job["status"], "succeeded", "{job}");
        let got: Value = app
            .get(&format!("/api/v2/datasource/{name}"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(got["name"], name, "{got}");
        let snapshot = app.get(&format!("/api/v2/datasource/{name}/schema")).await;
        assert_eq!(snapshot.status(), 200);
    }
    // And testing under that name leaves the datasource as it was.
    let before: Value = app
        .get("/api/v2/datasource/test")
        .await
        .json()
        .await
        .unwrap();
    let mut other = pg_credentials("test", &schema);
    other["port"] = json!(proxy::closed_port().await);
    let accepted: Value = app
        .post_test("", &body("postgres", other))
        .await
        .json()
        .await
        .unwrap();
    let job = app
        .wait_for_job(accepted["jobId"].as_str().unwrap(), Duration::from_secs(30))
        .await;
    assert_eq!(job["status"], "failed", "{job}");
    let after: Value = app
        .get("/api/v2/datasource/test")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(before, after);
    assert_eq!(after["status"], "ready");

    app.stop().await;
    drop_pg_schema(&schema).await;
}

#[tokio::test]
async fn a_finished_test_is_removed_after_its_retention() {
    let app = spawn_with(|s| {
        s.test_retention = Duration::from_secs(1);
        s.reconcile_interval = Duration::from_millis(200);
    })
    .await;
    let schema = unique("s");
    pg_schema(&schema).await;
    let accepted: Value = app
        .post_test("", &body("postgres", pg_credentials("trial", &schema)))
        .await
        .json()
        .await
        .unwrap();
    let job_id = accepted["jobId"].as_str().unwrap();
    let job = app.wait_for_job(job_id, Duration::from_secs(30)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    // Readable during the retention period, gone after it.
    assert_eq!(
        app.get(&format!("/api/v2/jobs/{job_id}")).await.status(),
        200
    );
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        if app.get(&format!("/api/v2/jobs/{job_id}")).await.status() == 404 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "the test job was kept"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(app.count("jobs").await, 0);

    app.stop().await;
    drop_pg_schema(&schema).await;
}
