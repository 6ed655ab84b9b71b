//! databricks against a fake of the SQL Statement Execution API written from its
//! public reference: statements answer PENDING first (so the client polls), results
//! come in two chunks (so it follows next_chunk_internal_link), tokens are checked.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{get, post};
use serde_json::{Value, json};

use crate::helpers::{body, spawn_app, spawn_for_faults, table};

#[derive(Clone, Default)]
struct Fake {
    statements: Arc<Mutex<HashMap<String, String>>>,
}

fn authorized(headers: &HeaderMap) -> bool {
    headers.get("authorization").and_then(|v| v.to_str().ok()) == Some("Bearer dapi-good")
}

fn unauthorized() -> axum::response::Response {
    (
        StatusCode::UNAUTHORIZED,
        axum::Json(json!({"error_code": "UNAUTHENTICATED", "message": "Invalid access token."})),
    )
        .into_response()
}

fn rows(sql: &str) -> Result<(Vec<Value>, Vec<Value>), String> {
    if sql.contains("`missing`") {
        return Err("[NO_SUCH_CATALOG_EXCEPTION] Catalog 'missing' was not found.".into());
    }
    let all: Vec<Value> = if sql.contains("information_schema.schemata") {
        vec![json!(["sales"])]
    } else if sql.contains("information_schema.tables") {
        vec![
            json!(["sales", "orders", "MANAGED", "what was bought"]),
            json!(["sales", "v_orders", "VIEW", null]),
        ]
    } else if sql.contains("information_schema.columns") {
        vec![
            json!([
                "sales", "orders", "id", "0", "bigint", "NO", null, "order id"
            ]),
            json!([
                "sales",
                "orders",
                "amount",
                "1",
                "decimal(10,2)",
                "YES",
                null,
                null
            ]),
            json!([
                "sales",
                "orders",
                "tags",
                "2",
                "array<string>",
                "YES",
                null,
                null
            ]),
            json!([
                "sales",
                "orders",
                "placed",
                "3",
                "timestamp",
                "YES",
                "current_timestamp()",
                null
            ]),
            json!(["sales", "v_orders", "id", "0", "bigint", "YES", null, null]),
        ]
    } else {
        return Err(format!("[PARSE_SYNTAX_ERROR] unexpected statement: {sql}"));
    };
    let half = all.len().div_ceil(2);
    Ok((all[..half].to_vec(), all[half..].to_vec()))
}

async fn submit(
    State(fake): State<Fake>,
    headers: HeaderMap,
    axum::Json(request): axum::Json<Value>,
) -> axum::response::Response {
    if !authorized(&headers) {
        return unauthorized();
    }
    if request["warehouse_id"] != "abc123" || request["disposition"] != "INLINE" {
        return (
            StatusCode::BAD_REQUEST,
            axum::Json(
                json!({"error_code": "INVALID_PARAMETER_VALUE", "message": "unknown warehouse"}),
            ),
        )
            .into_response();
    }
    let id = uuid::Uuid::new_v4().to_string();
    fake.statements.lock().unwrap().insert(
        id.clone(),
        request["statement"].as_str().unwrap_or("").to_string(),
    );
    axum::Json(json!({"statement_id": id, "status": {"state": "PENDING"}})).into_response()
}

async fn status(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> axum::response::Response {
    if !authorized(&headers) {
        return unauthorized();
    }
    let sql = fake
        .statements
        .lock()
        .unwrap()
        .get(&id)
        .cloned()
        .unwrap_or_default();
    match rows(&sql) {
        Err(message) => axum::Json(json!({"statement_id": id, "status": {"state": "FAILED", "error": {"error_code": "BAD_REQUEST", "message": message}}})).into_response(),
        Ok((first, rest)) => {
            let mut result = json!({"chunk_index": 0, "row_offset": 0, "row_count": first.len(), "data_array": first});
            if !rest.is_empty() {
                result["next_chunk_internal_link"] = json!(format!("/api/2.0/sql/statements/{id}/result/chunks/1"));
            }
            axum::Json(json!({"statement_id": id, "status": {"state": "SUCCEEDED"}, "manifest": {"total_chunk_count": 2}, "result": result})).into_response()
        }
    }
}

async fn chunk(
    State(fake): State<Fake>,
    headers: HeaderMap,
    Path((id, _n)): Path<(String, u32)>,
) -> axum::response::Response {
    if !authorized(&headers) {
        return unauthorized();
    }
    let sql = fake
        .statements
        .lock()
        .unwrap()
        .get(&id)
        .cloned()
        .unwrap_or_default();
    let (_, rest) = rows(&sql).unwrap();
    axum::Json(
        json!({"chunk_index": 1, "row_offset": 0, "row_count": rest.len(), "data_array": rest}),
    )
    .into_response()
}

/// The workspace's OAuth endpoint (machine-to-machine, as Databricks documents it):
/// the client id and secret as HTTP Basic credentials, `grant_type=client_credentials`
/// and `scope=all-apis`; the token it gives is the one the statements API takes.
async fn oidc_token(headers: HeaderMap, form: String) -> axum::response::Response {
    use base64::Engine;
    let basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("sp-id:sp-secret")
    );
    let fields: Vec<&str> = form.split('&').collect();
    let grant =
        fields.contains(&"grant_type=client_credentials") && fields.contains(&"scope=all-apis");
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(basic.as_str()) || !grant
    {
        return (
            StatusCode::UNAUTHORIZED,
            axum::Json(json!({"error": "invalid_client", "error_description": "Client authentication failed"})),
        )
            .into_response();
    }
    axum::Json(json!({"access_token": "dapi-good", "token_type": "Bearer", "expires_in": 3600}))
        .into_response()
}

async fn fake_workspace() -> String {
    let app = axum::Router::new()
        .route("/oidc/v1/token", post(oidc_token))
        .route("/api/2.0/sql/statements/", post(submit))
        .route("/api/2.0/sql/statements/{id}", get(status))
        .route("/api/2.0/sql/statements/{id}/result/chunks/{n}", get(chunk))
        .with_state(Fake::default());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

fn credentials(name: &str, endpoint: &str) -> Value {
    json!({"name": name, "host": "dbc-test.cloud.databricks.com", "httpPath": "/sql/1.0/warehouses/abc123",
           "accessToken": "dapi-good", "catalog": "main", "endpoint": endpoint})
}

#[tokio::test]
async fn a_unity_catalog_is_discovered_through_statements_polls_and_chunks() {
    let app = spawn_app().await;
    let endpoint = fake_workspace().await;
    let snapshot = app
        .onboard("databricks", credentials("dbx", &endpoint))
        .await;
    assert_eq!(snapshot["databases"][0]["name"], "main");
    let orders = table(&snapshot, "orders");
    assert_eq!(orders["comment"], "what was bought");
    let columns: Vec<(&str, &str, u64, bool)> = orders["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap(),
                c["type"].as_str().unwrap(),
                c["ordinal"].as_u64().unwrap(),
                c["nullable"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        columns,
        [
            ("id", "integer", 1, false),
            ("amount", "decimal", 2, true),
            ("tags", "array", 3, true),
            ("placed", "timestamp", 4, true)
        ]
    );
    assert_eq!(orders["columns"][3]["default"], "current_timestamp()");
    assert_eq!(table(&snapshot, "v_orders")["kind"], "view");
    app.stop().await;
}

#[tokio::test]
async fn databricks_faults_each_end_the_job_with_their_own_message() {
    let app = spawn_for_faults().await;
    let endpoint = fake_workspace().await;
    let mut bad_token = credentials("token", &endpoint);
    bad_token["accessToken"] = json!("dapi-wrong");
    let job = app
        .fails_with(
            &body("databricks", bad_token),
            "the access token was refused: Invalid access token.",
        )
        .await;
    assert_eq!(job["error"]["code"], "CREDENTIAL_TEST_FAILED");
    let mut missing = credentials("catalog", &endpoint);
    missing["catalog"] = json!("missing");
    app.fails_with(
        &body("databricks", missing),
        "catalog missing (or its schema) does not exist",
    )
    .await;
    app.unreachable_and_silent("databricks", credentials).await;
    let mut bad_path = credentials("path", &endpoint);
    bad_path["httpPath"] = json!("/sql/protocolv1/o/123/0123-456");
    assert_eq!(
        app.post_datasource(&body("databricks", bad_path))
            .await
            .status(),
        400
    );
    app.stop().await;
}

#[tokio::test]
async fn a_service_principal_logs_in_with_oauth_machine_to_machine() {
    let app = spawn_app().await;
    let endpoint = fake_workspace().await;
    let mut m2m = credentials("dbx-m2m", &endpoint);
    m2m.as_object_mut().unwrap().remove("accessToken");
    m2m["clientId"] = json!("sp-id");
    m2m["clientSecret"] = json!("sp-secret");
    let snapshot = app.onboard("databricks", m2m.clone()).await;
    assert_eq!(table(&snapshot, "orders")["comment"], "what was bought");
    m2m["name"] = json!("dbx-wrong-secret");
    m2m["clientSecret"] = json!("not-it");
    let job = app
        .fails_with(
            &body("databricks", m2m.clone()),
            "connect: the workspace refused the service principal's client id and secret: Client authentication failed",
        )
        .await;
    assert!(!job.to_string().contains("not-it"), "{job}");
    // Both ways, or half of one: refused at the API.
    for (change, field) in [
        (
            json!({"accessToken": "dapi-good"}),
            "credentials.accessToken",
        ),
        (json!({"clientSecret": null}), "credentials.clientSecret"),
    ] {
        let mut bad = m2m.clone();
        for (k, v) in change.as_object().unwrap() {
            bad[k] = v.clone();
        }
        let r = app.post_datasource(&body("databricks", bad)).await;
        assert_eq!(r.status(), 400);
        let answer: Value = r.json().await.unwrap();
        assert!(answer.to_string().contains(field), "{answer}");
    }
    app.stop().await;
}
