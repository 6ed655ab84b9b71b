use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::events::Subscriber;
use crate::helpers::targets::*;
use crate::helpers::{TestApp, body, spawn_app, table, unique};

/// An app with `prod`, a postgres datasource onboarded (discovered, cached and
/// announced) on a fresh fixture schema: the app, the schema's name and the snapshot.
async fn app_with_prod() -> (TestApp, String, Value) {
    let app = spawn_app().await;
    let schema = unique("s");
    pg_schema(&schema).await;
    let snapshot = app
        .onboard("postgres", pg_credentials("prod", &schema))
        .await;
    (app, schema, snapshot)
}

#[tokio::test]
async fn a_postgres_create_is_accepted_as_queued_at_its_job_location_and_passes_every_step() {
    let app = spawn_app().await;
    let schema = unique("s");
    pg_schema(&schema).await;

    let response = app
        .post_datasource(&body("postgres", pg_credentials("prod", &schema)))
        .await;
    assert_eq!(response.status(), 202);
    let location = response.headers()["location"].to_str().unwrap().to_string();
    let accepted: Value = response.json().await.unwrap();
    assert_eq!(accepted["status"], "queued");
    assert_eq!(accepted["name"], "prod");
    assert_eq!(
        location,
        format!("/api/v2/jobs/{}", accepted["jobId"].as_str().unwrap())
    );

    let job = app
        .wait_for_job(accepted["jobId"].as_str().unwrap(), Duration::from_secs(20))
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let steps: Vec<(&str, &str)> = job["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["name"].as_str().unwrap(), s["status"].as_str().unwrap()))
        .collect();
    assert_eq!(
        steps,
        [
            ("validate", "passed"),
            ("connect", "passed"),
            ("discover", "passed"),
            ("cache", "passed")
        ]
    );
    assert!(
        job["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["durationMs"].is_u64())
    );
    assert_eq!(job["schema"]["tables"], 3);
    assert_eq!(job["attempts"], 1);

    drop_pg_schema(&schema).await;
    app.stop().await;
}

#[tokio::test]
async fn a_postgres_schema_is_discovered_with_keys_comments_defaults_type_families_and_views() {
    let (app, schema, snapshot) = app_with_prod().await;
    assert_eq!(snapshot["datasourceType"], "postgres");
    assert_eq!(
        snapshot["stats"],
        json!({"schemas": 1, "tables": 3, "columns": 13})
    );
    let customers = table(&snapshot, "customers");
    assert_eq!(customers["kind"], "table");
    assert_eq!(customers["comment"], "people who pay");
    assert_eq!(customers["primaryKey"], json!(["id"]));
    let name = &customers["columns"][1];
    assert_eq!(name["name"], "name");
    assert_eq!(name["nullable"], false);
    assert_eq!(name["comment"], "full name");
    assert_eq!(name["type"], "string");
    let tenant = &customers["columns"][2];
    assert_eq!(
        (tenant["nativeType"].as_str(), tenant["default"].as_str()),
        (Some("integer"), Some("0"))
    );
    let orders = table(&snapshot, "orders");
    assert_eq!(orders["primaryKey"], json!(["id", "line"]));
    assert_eq!(
        orders["foreignKeys"],
        json!([{"columns": ["customer_id"], "references": {"schema": schema, "table": "customers", "columns": ["id"]}}])
    );
    let families: Vec<&str> = orders["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        families,
        [
            "integer", "integer", "integer", "decimal", "boolean", "json", "uuid"
        ]
    );
    assert_eq!(table(&snapshot, "big_orders")["kind"], "view");

    drop_pg_schema(&schema).await;
    app.stop().await;
}

#[tokio::test]
async fn a_cached_postgres_schema_carries_its_hash_as_etag_and_that_etag_gets_not_modified() {
    let (app, schema, _) = app_with_prod().await;
    let response = app.get("/api/v2/datasource/prod/schema").await;
    assert_eq!(response.status(), 200);
    let etag = response.headers()["etag"].to_str().unwrap().to_string();
    let snapshot: Value = response.json().await.unwrap();
    assert_eq!(etag, format!("\"{}\"", snapshot["hash"].as_str().unwrap()));

    // The same ETag means nothing changed.
    let again = app
        .client
        .get(app.url("/api/v2/datasource/prod/schema"))
        .bearer_auth(&app.token)
        .header("if-none-match", &etag)
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 304);

    drop_pg_schema(&schema).await;
    app.stop().await;
}

#[tokio::test]
async fn a_postgres_job_announces_every_step_start_and_end_in_order_then_the_datasource_ready() {
    let app = spawn_app().await;
    let schema = unique("s");
    pg_schema(&schema).await;
    let mut events = Subscriber::events(&app.settings).await;
    let accepted = app
        .accept(&body("postgres", pg_credentials("prod", &schema)))
        .await;

    // Every step's start and end is announced, in order, before the ready event
    // (instant steps' transitions are written together, none is dropped).
    let mut transitions = Vec::new();
    let ready = loop {
        let event = events
            .next(Duration::from_secs(10))
            .await
            .expect("an event");
        if event.body["type"] == "datasource.ready" {
            break event;
        }
        assert_eq!(event.body["type"], "job.progress", "{}", event.body);
        assert_eq!(event.routing_key, format!("{}.job.progress", app.org_id));
        let step = &event.body["data"]["step"];
        transitions.push(format!(
            "{} {}",
            step["name"].as_str().unwrap(),
            step["status"].as_str().unwrap()
        ));
    };
    assert_eq!(
        transitions,
        [
            "validate running",
            "validate passed",
            "connect running",
            "connect passed",
            "discover running",
            "discover passed",
            "cache running",
            "cache passed"
        ]
    );
    assert_eq!(
        ready.routing_key,
        format!("{}.datasource.ready", app.org_id)
    );
    assert_eq!(ready.body["specversion"], "1.0");
    assert_eq!(ready.body["data"]["jobId"], accepted["jobId"]);
    assert_eq!(ready.body["data"]["datasourceName"], "prod");
    assert_eq!(ready.body["data"]["schema"]["tables"], 3);

    drop_pg_schema(&schema).await;
    app.stop().await;
}

#[tokio::test]
async fn a_ready_postgres_datasource_record_shows_its_host_but_never_its_password() {
    let (app, schema, _) = app_with_prod().await;
    let record: Value = app
        .get("/api/v2/datasource/prod")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(record["status"], "ready");
    assert_eq!(record["credentials"]["host"], "127.0.0.1");
    assert!(record["credentials"].get("password").is_none());

    drop_pg_schema(&schema).await;
    app.stop().await;
}

#[tokio::test]
async fn a_mysql_datasource_is_discovered_with_keys_comments_and_views() {
    let app = spawn_app().await;
    let db = unique("m");
    mysql_database(&db).await;
    let job = app
        .create_and_wait(&body("mysql", mysql_credentials("shop", &db)))
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");

    let snapshot: Value = app
        .get("/api/v2/datasource/shop/schema")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(snapshot["datasourceType"], "mysql");
    assert_eq!(snapshot["stats"]["tables"], 3);
    let customers = table(&snapshot, "customers");
    assert_eq!(customers["comment"], "people who pay");
    assert_eq!(customers["primaryKey"], json!(["id"]));
    assert_eq!(customers["columns"][1]["comment"], "full name");
    assert_eq!(customers["columns"][3]["type"], "boolean");
    let orders = table(&snapshot, "orders");
    assert_eq!(orders["primaryKey"], json!(["id", "line"]));
    assert_eq!(
        orders["foreignKeys"][0]["references"],
        json!({"schema": db, "table": "customers", "columns": ["id"]})
    );
    assert_eq!(orders["columns"][4]["type"], "timestamp");
    let view = table(&snapshot, "big_orders");
    assert_eq!(
        (view["kind"].as_str(), view["comment"].as_str()),
        (Some("view"), None)
    );

    drop_mysql_database(&db).await;
    app.stop().await;
}

#[tokio::test]
async fn wait_holds_the_answer_until_the_job_ends() {
    let app = spawn_app().await;
    let schema = unique("s");
    pg_schema(&schema).await;
    let response = app
        .client
        .post(app.url("/api/v2/datasource?wait=20"))
        .bearer_auth(&app.token)
        .json(&body("postgres", pg_credentials("waited", &schema)))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let done: Value = response.json().await.unwrap();
    assert_eq!(done["name"], "waited");

    // A failing job answers with its own error code and status.
    let mut bad = pg_credentials("waited-bad", &schema);
    bad["database"] = json!("no_such_database");
    let response = app
        .client
        .post(app.url("/api/v2/datasource?wait=20"))
        .bearer_auth(&app.token)
        .json(&body("postgres", bad))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["code"], "CREDENTIAL_TEST_FAILED");
    drop_pg_schema(&schema).await;
    app.stop().await;
}

#[tokio::test]
async fn an_idempotency_key_returns_the_first_answer_and_creates_once() {
    let app = spawn_app().await;
    let schema = unique("s");
    pg_schema(&schema).await;
    let send = |name: &str| {
        app.client
            .post(app.url("/api/v2/datasource"))
            .bearer_auth(&app.token)
            .header("idempotency-key", "key-1")
            .json(&body("postgres", pg_credentials(name, &schema)))
            .send()
    };
    let first: Value = send("idem").await.unwrap().json().await.unwrap();
    let second = send("idem").await.unwrap();
    assert_eq!(second.status(), 202);
    let second: Value = second.json().await.unwrap();
    assert_eq!(first["jobId"], second["jobId"]);
    assert_eq!(app.count("jobs").await, 1);
    let reused = send("other").await.unwrap();
    assert_eq!(reused.status(), 400);
    assert_eq!(app.count("datasources").await, 1);
    drop_pg_schema(&schema).await;
    app.stop().await;
}
