//! bigquery against bqemulator (BigQuery's REST API under /bigquery/v2) that
//! scripts/test-servers.sh starts on 19050. The emulator ignores tokens, so the
//! service account's token_uri points at a token endpoint the test runs, which
//! checks the JWT grant as Google's does (signature with the key's public half,
//! issuer, audience, scope, lifetime).

use std::collections::HashMap;
use std::time::Duration;

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use crate::helpers::{
    body, column_shapes, shapes, spawn_app, spawn_for_faults, spawn_with, table, unique,
};

const EMULATOR: &str = "http://127.0.0.1:19050";
const EMAIL: &str = "loader@onramp-test.iam.gserviceaccount.com";

async fn emulator(method: reqwest::Method, path: &str, doc: Value) {
    let r = reqwest::Client::new()
        .request(method, format!("{EMULATOR}/bigquery/v2/{path}"))
        .json(&doc)
        .send()
        .await
        .expect("bqemulator runs (scripts/test-servers.sh starts it)");
    let status = r.status();
    assert!(status.is_success(), "{path}: {}", r.text().await.unwrap());
}

/// A project of its own: a US dataset with nested columns and a view, and an EU dataset.
async fn fixture() -> String {
    let project = unique("p-");
    let dataset = |id: &str, location: &str| json!({"datasetReference": {"projectId": project, "datasetId": id}, "location": location});
    emulator(
        reqwest::Method::POST,
        &format!("projects/{project}/datasets"),
        dataset("sales", "US"),
    )
    .await;
    emulator(
        reqwest::Method::POST,
        &format!("projects/{project}/datasets"),
        dataset("eu_data", "EU"),
    )
    .await;
    let orders = json!({
        "tableReference": {"projectId": project, "datasetId": "sales", "tableId": "orders"},
        "schema": {"fields": [
            {"name": "id", "type": "INT64", "mode": "REQUIRED"},
            {"name": "buyer", "type": "RECORD", "fields": [
                {"name": "name", "type": "STRING"}, {"name": "tags", "type": "STRING", "mode": "REPEATED"}]},
            {"name": "lines", "type": "RECORD", "mode": "REPEATED", "fields": [
                {"name": "sku", "type": "STRING"}, {"name": "qty", "type": "INT64"}]},
            {"name": "placed", "type": "TIMESTAMP"}]}
    });
    emulator(
        reqwest::Method::POST,
        &format!("projects/{project}/datasets/sales/tables"),
        orders,
    )
    .await;
    let view = json!({
        "tableReference": {"projectId": project, "datasetId": "sales", "tableId": "v_orders"},
        "view": {"query": format!("SELECT id FROM `{project}.sales.orders`"), "useLegacySql": false}
    });
    emulator(
        reqwest::Method::POST,
        &format!("projects/{project}/datasets/sales/tables"),
        view,
    )
    .await;
    let eu = json!({
        "tableReference": {"projectId": project, "datasetId": "eu_data", "tableId": "customers"},
        "schema": {"fields": [{"name": "id", "type": "INT64"}]}
    });
    emulator(
        reqwest::Method::POST,
        &format!("projects/{project}/datasets/eu_data/tables"),
        eu,
    )
    .await;
    project
}

#[derive(Clone)]
struct TokenEndpoint {
    public_key: Vec<u8>,
    uri: String,
}

async fn token(
    State(endpoint): State<TokenEndpoint>,
    axum::Form(form): axum::Form<HashMap<String, String>>,
) -> axum::response::Response {
    let invalid = |why: &str| {
        (
            StatusCode::BAD_REQUEST,
            axum::Json(json!({"error": "invalid_grant", "error_description": why})),
        )
            .into_response()
    };
    if form.get("grant_type").map(String::as_str)
        != Some("urn:ietf:params:oauth:grant-type:jwt-bearer")
    {
        return invalid("Invalid grant_type.");
    }
    let assertion = form.get("assertion").cloned().unwrap_or_default();
    let parts: Vec<&str> = assertion.split('.').collect();
    if parts.len() != 3 {
        return invalid("Invalid JWT.");
    }
    let signed = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &endpoint.public_key).verify(
        format!("{}.{}", parts[0], parts[1]).as_bytes(),
        &URL_SAFE_NO_PAD.decode(parts[2]).unwrap_or_default(),
    );
    if signed.is_err() {
        return invalid("Invalid JWT Signature.");
    }
    let claims: Value = serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap()).unwrap();
    let lifetime = claims["exp"].as_i64().unwrap_or(0) - claims["iat"].as_i64().unwrap_or(0);
    if claims["iss"] != EMAIL
        || claims["aud"] != endpoint.uri.as_str()
        || !(1..=3600).contains(&lifetime)
        || !claims["scope"].as_str().unwrap_or("").contains("bigquery")
    {
        return invalid(&format!("Invalid JWT claims: {claims}"));
    }
    axum::Json(json!({"access_token": "ya29.test", "expires_in": 3599, "token_type": "Bearer"}))
        .into_response()
}

/// The token endpoint, and a key file whose key it accepts.
async fn token_endpoint() -> (String, Value) {
    let key = KeyPair::generate(KeySize::Rsa2048).unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let uri = format!("http://{}/token", listener.local_addr().unwrap());
    let app = axum::Router::new()
        .route("/token", axum::routing::post(token))
        .with_state(TokenEndpoint {
            public_key: key.public_key().as_ref().to_vec(),
            uri: uri.clone(),
        });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let key_file = json!({"type": "service_account", "project_id": "onramp-test", "private_key_id": "k1",
        "private_key": onramp::connectors::support::rsa_jwt::to_pem("PRIVATE KEY", key.as_der().unwrap().as_ref()), "client_email": EMAIL, "token_uri": uri});
    (uri, key_file)
}

fn credentials(name: &str, project: &str, key_file: &Value, api: &str) -> Value {
    json!({"name": name, "projectId": project, "serviceAccount": key_file.to_string(), "location": "US", "apiEndpoint": api})
}

#[tokio::test]
async fn datasets_of_the_location_are_discovered_with_nested_columns_as_paths() {
    let app = spawn_app().await;
    let project = fixture().await;
    let (_, key_file) = token_endpoint().await;
    let snapshot = app
        .onboard("bigquery", credentials("bq", &project, &key_file, EMULATOR))
        .await;
    assert_eq!(snapshot["databases"][0]["name"], project.as_str());
    let schemas: Vec<&str> = snapshot["databases"][0]["schemas"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(schemas, ["sales"], "only the US datasets");
    let orders = table(&snapshot, "orders");
    assert_eq!(
        column_shapes(orders),
        shapes(&[
            ("id", "integer", false),
            ("buyer", "json", true),
            ("buyer.name", "string", true),
            ("buyer.tags", "array", true),
            ("lines", "array", true),
            ("lines.sku", "string", true),
            ("lines.qty", "integer", true),
            ("placed", "timestamp", true),
        ])
    );
    assert_eq!(table(&snapshot, "v_orders")["kind"], "view");
    app.stop().await;
}

#[tokio::test]
async fn bigquery_faults_each_end_the_job_with_their_own_message() {
    let app = spawn_for_faults().await;
    let project = fixture().await;
    let (_, key_file) = token_endpoint().await;
    // A key file whose key the token endpoint does not know.
    let (_, mut stranger) = token_endpoint().await;
    stranger["token_uri"] = key_file["token_uri"].clone();
    let job = app
        .fails_with(
            &body(
                "bigquery",
                credentials("stranger", &project, &stranger, EMULATOR),
            ),
            "connect: the service account key was refused: Invalid JWT Signature.",
        )
        .await;
    assert_eq!(job["error"]["code"], "CREDENTIAL_TEST_FAILED");
    app.unreachable_and_silent("bigquery", |name, url| {
        credentials(name, &project, &key_file, url)
    })
    .await;
    // A key file that is not a service account's, a bad location: refused at the API,
    // naming what is wrong without echoing the key.
    let mut user_key = key_file.clone();
    user_key["type"] = json!("authorized_user");
    user_key.as_object_mut().unwrap().remove("client_email");
    let mut location = credentials("location", &project, &key_file, EMULATOR);
    location["location"] = json!("Mars/1");
    for (bad, needle) in [
        (
            credentials("user-key", &project, &user_key, EMULATOR),
            "client_email",
        ),
        (location, "credentials.location"),
    ] {
        let answer = app.post_datasource(&body("bigquery", bad)).await;
        assert_eq!(answer.status(), 400);
        let problem = answer.text().await.unwrap();
        assert!(problem.contains(needle), "{problem}");
        assert!(
            !problem.contains("PRIVATE KEY"),
            "the key must not be echoed: {problem}"
        );
    }
    app.stop().await;
}

/// A front of the emulator that answers the first `limited` API calls as BigQuery
/// does when a user's rate limit is reached: 403 with reason rateLimitExceeded.
async fn rate_limited_front(limited: usize) -> String {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    let calls = Arc::new(AtomicUsize::new(0));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(move |request: axum::extract::Request| {
        let calls = calls.clone();
        async move {
            if calls.fetch_add(1, Ordering::SeqCst) < limited {
                let body = json!({"error": {"code": 403,
                    "message": "Exceeded rate limits: too many api requests per user per method for this user_method",
                    "errors": [{"reason": "rateLimitExceeded", "domain": "usageLimits"}]}});
                return (StatusCode::FORBIDDEN, axum::Json(body)).into_response();
            }
            let (parts, body) = request.into_parts();
            let bytes = axum::body::to_bytes(body, 1 << 20).await.unwrap();
            let path = parts.uri.path_and_query().unwrap().as_str();
            let answer = reqwest::Client::new()
                .request(parts.method, format!("{EMULATOR}{path}"))
                .header("content-type", "application/json")
                .body(bytes)
                .send()
                .await
                .unwrap();
            let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
            (status, answer.bytes().await.unwrap()).into_response()
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    url
}

#[tokio::test]
async fn a_rate_limited_project_is_asked_again_and_then_fails_as_busy() {
    // The pauses (0.5, 1, 2, 4 s) must fit in the connect step with room for a busy machine:
    // with the suite's 2 s, two pauses and the calls around them ran out of time in CI.
    // The lease is longer than the suite's 2 s too: under CI's load a renewal once came
    // too late, the job went back to the queue and started its pauses over.
    let app = spawn_with(|s| {
        s.connect_timeout = Duration::from_millis(25_000);
        s.job_lease = Duration::from_millis(10_000);
    })
    .await;
    let project = fixture().await;
    let (_, key_file) = token_endpoint().await;
    // Two refusals: the calls are asked again and the job succeeds, saying it waited.
    let front = rate_limited_front(2).await;
    let job = app
        .create_and_wait(&body(
            "bigquery",
            credentials("limited", &project, &key_file, &front),
        ))
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let connect = &job["steps"][1];
    assert!(
        connect["message"]
            .as_str()
            .is_some_and(|m| m.contains("after 2 retries")),
        "{connect}"
    );
    // Refusals without end: the job fails as a busy server, not a missing permission.
    let front = rate_limited_front(usize::MAX).await;
    let job = app
        .fails_with(
            &body(
                "bigquery",
                credentials("always-limited", &project, &key_file, &front),
            ),
            "connect: bigquery's rate limit: Exceeded rate limits",
        )
        .await;
    assert!(
        job["error"]["hint"]
            .as_str()
            .is_some_and(|h| h.contains("connection limit (or rate limit)")),
        "{job}"
    );
    app.stop().await;
}
