//! trino against a fake of the client protocol written from Trino's public reference:
//! `POST /v1/statement` answers QUEUED with an absolute `nextUri`, the rows come over
//! two more pages, errors carry `errorName` as Trino's do.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::helpers::{body, port_of, spawn_app, spawn_for_faults, table};

#[derive(Clone)]
struct Fake {
    base: String,
    queries: Arc<Mutex<HashMap<String, (String, String)>>>,
}

fn result_rows(catalog: &str, sql: &str) -> Result<(Vec<Value>, Vec<Value>), Value> {
    if sql.contains("\"missing\"") || catalog == "missing" {
        return Err(
            json!({"message": "Catalog 'missing' does not exist", "errorCode": 44, "errorName": "CATALOG_NOT_FOUND", "errorType": "USER_ERROR"}),
        );
    }
    let all: Vec<Value> = if sql.contains("information_schema.schemata") {
        vec![json!(["sales"])]
    } else if sql.contains("information_schema.tables") {
        vec![
            json!(["sales", "orders", "BASE TABLE"]),
            json!(["sales", "v_orders", "VIEW"]),
        ]
    } else if sql.contains("information_schema.columns") {
        vec![
            json!(["sales", "orders", "id", 1, "bigint", "NO", null]),
            json!(["sales", "orders", "amount", 2, "decimal(10,2)", "YES", null]),
            json!(["sales", "orders", "note", 3, "varchar", "YES", "'none'"]),
            json!([
                "sales",
                "orders",
                "placed",
                4,
                "timestamp(3) with time zone",
                "YES",
                null
            ]),
            json!(["sales", "orders", "tags", 5, "array(varchar)", "YES", null]),
            json!(["sales", "v_orders", "id", 1, "bigint", "YES", null]),
        ]
    } else {
        return Err(
            json!({"message": format!("unexpected: {sql}"), "errorName": "SYNTAX_ERROR", "errorType": "USER_ERROR"}),
        );
    };
    let half = all.len().div_ceil(2);
    Ok((all[..half].to_vec(), all[half..].to_vec()))
}

async fn submit(
    State(fake): State<Fake>,
    headers: HeaderMap,
    sql: String,
) -> axum::response::Response {
    let user = headers
        .get("x-trino-user")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if user == "intruder" {
        return (StatusCode::UNAUTHORIZED, "Unauthorized").into_response();
    }
    let catalog = headers
        .get("x-trino-catalog")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let id = uuid::Uuid::new_v4().simple().to_string();
    fake.queries
        .lock()
        .unwrap()
        .insert(id.clone(), (catalog, sql));
    if user == "blocked" {
        let error = json!({"message": "Access Denied: Cannot select from information_schema", "errorName": "PERMISSION_DENIED", "errorType": "USER_ERROR"});
        return axum::Json(json!({"id": id, "stats": {"state": "FAILED"}, "error": error}))
            .into_response();
    }
    axum::Json(json!({"id": id, "nextUri": format!("{}/v1/statement/queued/{id}/1", fake.base), "stats": {"state": "QUEUED"}})).into_response()
}

async fn page(
    State(fake): State<Fake>,
    Path((stage, id, token)): Path<(String, String, u32)>,
) -> axum::response::Response {
    let (catalog, sql) = fake
        .queries
        .lock()
        .unwrap()
        .get(&id)
        .cloned()
        .unwrap_or_default();
    let columns = json!([{"name": "c", "type": "varchar"}]);
    match (stage.as_str(), result_rows(&catalog, &sql)) {
        (_, Err(error)) => axum::Json(json!({"id": id, "stats": {"state": "FAILED"}, "error": error})).into_response(),
        ("queued", Ok((first, _))) => axum::Json(json!({"id": id, "columns": columns, "data": first,
            "nextUri": format!("{}/v1/statement/executing/{id}/{}", fake.base, token + 1), "stats": {"state": "RUNNING"}})).into_response(),
        (_, Ok((_, rest))) => axum::Json(json!({"id": id, "columns": columns, "data": rest, "stats": {"state": "FINISHED"}})).into_response(),
    }
}

async fn fake_trino() -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let fake = Fake {
        base: format!("http://{addr}"),
        queries: Arc::default(),
    };
    let app = axum::Router::new()
        .route("/v1/statement", post(submit))
        .route("/v1/statement/{stage}/{id}/{token}", get(page))
        .with_state(fake);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr.port()
}

fn credentials(name: &str, port: u16, user: &str) -> Value {
    json!({"name": name, "host": "127.0.0.1", "port": port, "user": user, "catalog": "hive", "ssl": false})
}

#[tokio::test]
async fn a_trino_catalog_is_discovered_by_following_next_uri() {
    let app = spawn_app().await;
    let port = fake_trino().await;
    let snapshot = app
        .onboard("trino", credentials("trino", port, "alice"))
        .await;
    assert_eq!(snapshot["databases"][0]["name"], "hive");
    let orders = table(&snapshot, "orders");
    let columns: Vec<(&str, &str, bool)> = orders["columns"]
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
            ("amount", "decimal", true),
            ("note", "string", true),
            ("placed", "timestamp", true),
            ("tags", "array", true)
        ]
    );
    assert_eq!(orders["columns"][2]["default"], "'none'");
    assert_eq!(table(&snapshot, "v_orders")["kind"], "view");
    app.stop().await;
}

#[tokio::test]
async fn trino_faults_each_end_the_job_with_their_own_message() {
    let app = spawn_for_faults().await;
    let port = fake_trino().await;
    let job = app
        .fails_with(
            &body("trino", credentials("intruder", port, "intruder")),
            "login as intruder was refused",
        )
        .await;
    assert_eq!(job["error"]["code"], "CREDENTIAL_TEST_FAILED");
    app.fails_with(
        &body("trino", credentials("blocked", port, "blocked")),
        "the user lacks a privilege: Access Denied",
    )
    .await;
    let mut missing = credentials("missing", port, "alice");
    missing["catalog"] = json!("missing");
    app.fails_with(
        &body("trino", missing),
        "catalog missing (or its schema) does not exist",
    )
    .await;
    app.unreachable_and_silent("trino", |name, url| {
        credentials(name, port_of(url), "alice")
    })
    .await;
    let mut plain_password = credentials("plain", port, "alice");
    plain_password["password"] = json!("secret");
    let r = app.post_datasource(&body("trino", plain_password)).await;
    let answer: Value = r.json().await.unwrap();
    assert_eq!(
        answer["error"]["details"][0]["field"], "credentials.password",
        "{answer}"
    );
    app.stop().await;
}
