//! firebolt against a fake written from Firebolt's public API reference and its
//! SDKs' protocol: a client-credentials token from the identity service, the system
//! engine's URL from the account API, `USE DATABASE` / `USE ENGINE` answered with
//! `Firebolt-Update-Parameters` / `Firebolt-Update-Endpoint`, JSON_Compact results
//! and protocol-2 error bodies.

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::{Value, json};
use std::collections::HashMap;

use crate::helpers::{body, column_shapes, shapes, spawn_app, spawn_for_faults, table};

const TOKEN: &str = "fb-access-token";

#[derive(Clone)]
struct Fake {
    base: String,
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some(&format!("Bearer {TOKEN}"))
}

async fn oauth(axum::Form(form): axum::Form<HashMap<String, String>>) -> axum::response::Response {
    let good = form.get("grant_type").map(String::as_str) == Some("client_credentials")
        && form.get("audience").map(String::as_str) == Some("https://api.firebolt.io")
        && form.get("client_id").map(String::as_str) == Some("client-1")
        && form.get("client_secret").map(String::as_str) == Some("s3cret");
    if !good {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "access_denied", "error_description": "Unauthorized"})),
        )
            .into_response();
    }
    axum::Json(json!({"access_token": TOKEN, "token_type": "Bearer", "expires_in": 86400}))
        .into_response()
}

async fn engine_url(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Path(account): Path<String>,
) -> axum::response::Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if account != "acme" {
        return (
            StatusCode::NOT_FOUND,
            axum::Json(json!({"error": "account not found", "message": format!("Account '{account}' does not exist in this organization or is not authorized")})),
        )
            .into_response();
    }
    // Firebolt answers a host without a scheme; this fake needs plain http.
    axum::Json(json!({"engineUrl": format!("{}/system", fake.base)})).into_response()
}

fn error(status: StatusCode, description: &str) -> axum::response::Response {
    (
        status,
        axum::Json(json!({"errors": [{"code": "OB040", "name": "ENTITY_NOT_FOUND", "severity": "ERROR", "description": description}]})),
    )
        .into_response()
}

fn compact(rows: Vec<Value>) -> axum::response::Response {
    axum::Json(json!({"meta": [], "data": rows, "rows": 0, "statistics": {"elapsed": 0.001}}))
        .into_response()
}

async fn system(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
    sql: String,
) -> axum::response::Response {
    if !authorized(&headers)
        || params.get("output_format").map(String::as_str) != Some("JSON_Compact")
    {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    if let Some(db) = sql.strip_prefix("USE DATABASE ") {
        if db != "\"analytics\"" {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("Database {db} does not exist or not authorized."),
            );
        }
        return (
            [("Firebolt-Update-Parameters", "database=analytics")],
            compact(vec![]),
        )
            .into_response();
    }
    if let Some(engine) = sql.strip_prefix("USE ENGINE ") {
        if engine != "\"etl\"" {
            return error(
                StatusCode::BAD_REQUEST,
                &format!("Engine {engine} does not exist or not authorized."),
            );
        }
        let endpoint = format!("{}/user-engine?engine=etl&account_id=a-1", fake.base);
        return ([("Firebolt-Update-Endpoint", endpoint)], compact(vec![])).into_response();
    }
    error(
        StatusCode::BAD_REQUEST,
        "the system engine only runs USE statements here",
    )
}

async fn user_engine(
    headers: HeaderMap,
    Query(params): Query<HashMap<String, String>>,
    sql: String,
) -> axum::response::Response {
    if !authorized(&headers) {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    // The parameters the session headers set must come back on every query.
    let wanted = [
        ("database", "analytics"),
        ("engine", "etl"),
        ("account_id", "a-1"),
        ("output_format", "JSON_Compact"),
    ];
    if wanted
        .iter()
        .any(|(k, v)| params.get(*k).map(String::as_str) != Some(v))
    {
        return error(
            StatusCode::BAD_REQUEST,
            &format!("missing session parameters: {params:?}"),
        );
    }
    if sql == "SELECT 1" {
        return compact(vec![json!([1])]);
    }
    if sql.contains("information_schema.tables") {
        return compact(vec![
            json!(["public", "events", "BASE TABLE", null]),
            json!(["public", "ext_clicks", "EXTERNAL", null]),
            json!(["public", "v_events", "VIEW", null]),
        ]);
    }
    if sql.contains("information_schema.columns") {
        return compact(vec![
            json!(["public", "events", "id", 1, "bigint", "NO", null]),
            json!([
                "public",
                "events",
                "amount",
                2,
                "numeric(38, 9)",
                "YES",
                null
            ]),
            json!([
                "public",
                "events",
                "tags",
                3,
                "array(text null)",
                "YES",
                null
            ]),
            json!([
                "public",
                "events",
                "at",
                4,
                "timestamptz",
                "NO",
                "CURRENT_TIMESTAMP()"
            ]),
            json!(["public", "ext_clicks", "url", 1, "text", "YES", null]),
            json!(["public", "v_events", "id", 1, "bigint", "YES", null]),
        ]);
    }
    error(
        StatusCode::BAD_REQUEST,
        &format!("unexpected statement: {sql}"),
    )
}

/// The identity service, the account API and both engines on one loopback server.
async fn fake_firebolt() -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/oauth/token", post(oauth))
        .route("/web/v3/account/{account}/engineUrl", get(engine_url))
        .route("/system", post(system))
        .route("/user-engine", post(user_engine))
        .with_state(Fake { base: base.clone() });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    base
}

fn credentials(name: &str, endpoint: &str) -> Value {
    json!({"name": name, "clientId": "client-1", "clientSecret": "s3cret", "account": "acme",
           "engine": "etl", "database": "analytics", "apiEndpoint": endpoint, "authEndpoint": endpoint})
}

#[tokio::test]
async fn a_firebolt_database_is_discovered_on_the_user_engine() {
    let app = spawn_app().await;
    let endpoint = fake_firebolt().await;
    let snapshot = app.onboard("firebolt", credentials("fb", &endpoint)).await;
    assert_eq!(snapshot["databases"][0]["name"], "analytics");
    let events_table = table(&snapshot, "events");
    assert_eq!(
        column_shapes(events_table),
        shapes(&[
            ("id", "integer", false),
            ("amount", "decimal", true),
            ("tags", "array", true),
            ("at", "timestamp", false)
        ])
    );
    assert_eq!(events_table["columns"][3]["default"], "CURRENT_TIMESTAMP()");
    assert_eq!(table(&snapshot, "ext_clicks")["kind"], "external");
    assert_eq!(table(&snapshot, "v_events")["kind"], "view");
    app.stop().await;
}

#[tokio::test]
async fn firebolt_faults_each_end_the_job_with_their_own_message() {
    let app = spawn_for_faults().await;
    let endpoint = fake_firebolt().await;
    let mut secret = credentials("secret", &endpoint);
    secret["clientSecret"] = json!("wrong");
    let job = app
        .fails_with(
            &body("firebolt", secret),
            "connect: the client ID or secret was refused: Unauthorized",
        )
        .await;
    assert_eq!(job["error"]["code"], "CREDENTIAL_TEST_FAILED");
    let mut account = credentials("account", &endpoint);
    account["account"] = json!("other");
    app.fails_with(
        &body("firebolt", account),
        "connect: account other was not found or the service account may not use it…",
    )
    .await;
    let mut engine = credentials("engine", &endpoint);
    engine["engine"] = json!("stopped");
    app.fails_with(
        &body("firebolt", engine),
        "connect: the database or engine was not found: Engine \"stopped\" does not exist or not authorized.",
    )
    .await;
    app.unreachable_and_silent("firebolt", credentials).await;
    let mut missing = credentials("missing", &endpoint);
    missing.as_object_mut().unwrap().remove("clientSecret");
    assert_eq!(
        app.post_datasource(&body("firebolt", missing))
            .await
            .status(),
        400
    );
    app.stop().await;
}
