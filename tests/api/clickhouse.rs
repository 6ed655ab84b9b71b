//! ClickHouse, over its HTTP interface, against Debian's clickhouse-server.

use std::time::Duration;

use serde_json::{Value, json};

use crate::helpers::events::Subscriber;
use crate::helpers::targets::*;
use crate::helpers::{body, port_of, spawn_app, spawn_for_faults, table, unique};

#[tokio::test]
async fn a_clickhouse_database_is_discovered_with_engines_keys_and_comments() {
    let app = spawn_app().await;
    let db = unique("k");
    clickhouse_database(&db).await;
    let mut events = Subscriber::events(&app.settings).await;
    let mut request = body("clickhouse", clickhouse_credentials("ch", &db));
    request["tenancySettings"] = json!({"tenancyLevel": "DATABASE"});
    let job = app.create_and_wait(&request).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert!(
        job["steps"][0]["message"]
            .as_str()
            .unwrap()
            .contains("username default"),
        "{job}"
    );
    let dbs = job["result"]["tenancy"]["clientDatabases"]
        .as_array()
        .unwrap();
    assert!(
        dbs.contains(&json!(db)) && !dbs.contains(&json!("system")),
        "{job}"
    );

    let snapshot: Value = app
        .get("/api/v2/datasource/ch/schema")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(snapshot["datasourceType"], "clickhouse");
    assert_eq!(snapshot["stats"]["tables"], 3);
    let events_table = table(&snapshot, "events");
    assert_eq!(events_table["kind"], "table");
    assert_eq!(events_table["primaryKey"], json!(["id", "ts"]));
    assert_eq!(events_table["properties"]["engine"], "MergeTree");
    assert_eq!(events_table["properties"]["sortingKey"], "id, ts");
    assert_eq!(events_table["properties"]["partitionKey"], "toYYYYMM(ts)");
    let columns: Vec<(&str, &str, bool)> = events_table["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap(),
                c["type"].as_str().unwrap(),
                c["nullable"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        columns,
        [
            ("id", "integer", false),
            ("ts", "timestamp", false),
            ("user", "string", true),
            ("amount", "decimal", false),
            ("tags", "array", false),
            ("kind", "string", false)
        ]
    );
    assert_eq!(events_table["columns"][2]["comment"], "who did it");
    assert_eq!(events_table["columns"][5]["default"], "DEFAULT 'click'");
    assert_eq!(table(&snapshot, "recent")["kind"], "view");
    assert_eq!(table(&snapshot, "log")["properties"]["engine"], "Log");
    let ready = events
        .next_of("datasource.ready", Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(ready.body["data"]["datasourceType"], "clickhouse");
    drop_clickhouse_database(&db).await;
    app.stop().await;
}

#[tokio::test]
async fn clickhouse_faults_each_end_the_job_with_their_own_message() {
    let app = spawn_for_faults().await;
    let failed = |name: &str, change: &dyn Fn(&mut Value)| {
        let mut c = clickhouse_credentials(name, "default");
        change(&mut c);
        let request = body("clickhouse", c);
        let app = &app;
        async move {
            let job = app.create_and_wait(&request).await;
            assert_eq!(job["status"], "failed", "{job}");
            assert!(job["error"]["hint"].as_str().is_some_and(|h| !h.is_empty()));
            (
                job["error"]["code"].as_str().unwrap().to_string(),
                job["error"]["message"].as_str().unwrap().to_string(),
            )
        }
    };
    let (code, message) = failed("ch-password", &|c| {
        c["username"] = json!("onramp");
        c["password"] = json!("wrong");
    })
    .await;
    assert_eq!(code, "CREDENTIAL_TEST_FAILED");
    assert!(message.contains("login as onramp was refused"), "{message}");
    let mut right = clickhouse_credentials("ch-password-ok", "default");
    right["username"] = json!("onramp");
    right["password"] = json!("onramp-test-password");
    assert_eq!(
        app.create_and_wait(&body("clickhouse", right)).await["status"],
        "succeeded"
    );

    let (_, message) = failed("ch-nodb", &|c| c["database"] = json!("no_such_db")).await;
    assert!(
        message.contains("database no_such_db does not exist"),
        "{message}"
    );

    app.unreachable_and_silent("clickhouse", |name, url| {
        let mut c = clickhouse_credentials(name, "default");
        c["port"] = json!(port_of(url));
        c
    })
    .await;

    let (_, message) = failed("ch-tls", &|c| c["ssl"] = json!(true)).await;
    assert!(message.contains("tls"), "{message}");
    app.stop().await;
}
