//! elasticsearch and opensearch against osmem-server (the OpenSearch REST API);
//! credentials against an authenticating front the test runs before it, since
//! osmem-server checks none.

use axum::extract::Request;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use base64::Engine;
use serde_json::{Value, json};

use crate::helpers::{body, spawn_app, spawn_for_faults, table, unique};

const OSMEM: &str = "http://127.0.0.1:19200";

async fn put(path: &str, doc: Value) {
    let r = reqwest::Client::new()
        .request(reqwest::Method::PUT, format!("{OSMEM}/{path}"))
        .json(&doc)
        .send()
        .await
        .unwrap();
    assert!(
        r.status().is_success(),
        "PUT {path}: {}",
        r.text().await.unwrap()
    );
}

/// Two indices and an alias, all named under `prefix`.
async fn fixture(prefix: &str) {
    put(
        &format!("{prefix}-people"),
        json!({"mappings": {"properties": {"name": {"type": "text"}, "age": {"type": "integer"}, "joined": {"type": "date"},
               "address": {"properties": {"city": {"type": "keyword"}, "geo": {"type": "geo_point"}}}, "tags": {"type": "nested"}}}}),
    )
    .await;
    put(
        &format!("{prefix}-logs"),
        json!({"mappings": {"properties": {"msg": {"type": "text"}, "took": {"type": "float"}}}}),
    )
    .await;
    let r = reqwest::Client::new()
        .post(format!("{OSMEM}/_aliases"))
        .json(&json!({"actions": [{"add": {"index": format!("{prefix}-people"), "alias": format!("{prefix}-humans")}}]}))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
}

fn credentials(name: &str, url: &str, prefix: &str) -> Value {
    json!({"name": name, "url": url, "indexPattern": format!("{prefix}-*")})
}

#[tokio::test]
async fn indices_and_aliases_become_tables_for_both_types() {
    let app = spawn_app().await;
    let prefix = unique("x");
    fixture(&prefix).await;
    for ty in ["opensearch", "elasticsearch"] {
        let snapshot = app.onboard(ty, credentials(ty, OSMEM, &prefix)).await;
        assert_eq!(snapshot["stats"]["tables"], 3, "{snapshot}");
        let people = table(&snapshot, &format!("{prefix}-people"));
        assert_eq!(people["kind"], "index");
        let columns: Vec<(&str, &str)> = people["columns"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| (c["name"].as_str().unwrap(), c["type"].as_str().unwrap()))
            .collect();
        assert_eq!(
            columns,
            [
                ("address.city", "string"),
                ("address.geo", "other"),
                ("age", "integer"),
                ("joined", "timestamp"),
                ("name", "string"),
                ("tags", "array")
            ]
        );
        let humans = table(&snapshot, &format!("{prefix}-humans"));
        assert_eq!(
            (humans["kind"].as_str(), humans["comment"].as_str()),
            (
                Some("view"),
                Some(format!("alias of {prefix}-people").as_str())
            )
        );
        assert_eq!(humans["columns"], people["columns"]);
    }
    app.stop().await;
}

/// The filter narrows what the index pattern matched, and keeps or drops an alias by
/// its own name: an alias kept over an index filtered out still has that index's fields.
#[tokio::test]
async fn schema_filters_keep_indices_and_aliases_by_their_own_names() {
    let app = spawn_app().await;
    let prefix = unique("x");
    fixture(&prefix).await;
    let mut c = credentials("filtered", OSMEM, &prefix);
    c["schemaFilters"] = json!({"tables": {"include": [format!("{prefix}-h*"), format!("{prefix}-l*")], "exclude": ["*-logs"]}});
    let snapshot = app.onboard("opensearch", c).await;
    let names: Vec<&str> = snapshot["databases"][0]["schemas"][0]["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    let humans = format!("{prefix}-humans");
    assert_eq!(names, [humans.as_str()], "{snapshot}");
    let columns = table(&snapshot, &humans)["columns"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(columns, 6, "the alias takes its index's fields: {snapshot}");
    assert_eq!(snapshot["filters"]["tables"]["exclude"], json!(["*-logs"]));
    app.stop().await;
}

/// An authenticating front for osmem-server that answers as Elasticsearch's security
/// layer does: 401 with a security_exception unless the credentials are right.
async fn authenticating_front() -> String {
    let good_basic = format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode("elastic:right-password")
    );
    let app = axum::Router::new().fallback(move |request: Request| {
        let good_basic = good_basic.clone();
        async move {
            let auth = request.headers().get("authorization").and_then(|v| v.to_str().ok()).unwrap_or("");
            if auth != good_basic && auth != "ApiKey good-api-key" {
                let body = json!({"error": {"type": "security_exception", "reason": "unable to authenticate user for REST request"}, "status": 401});
                return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
            }
            let path = request.uri().path_and_query().map(|p| p.as_str()).unwrap_or("/").to_string();
            let answer = reqwest::get(format!("{OSMEM}{path}")).await.unwrap();
            let status = StatusCode::from_u16(answer.status().as_u16()).unwrap();
            (status, [("content-type", "application/json")], answer.bytes().await.unwrap()).into_response()
        }
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    format!("http://{addr}")
}

#[tokio::test]
async fn search_faults_each_end_the_job_with_their_own_message() {
    let app = spawn_for_faults().await;
    let prefix = unique("x");
    fixture(&prefix).await;
    let front = authenticating_front().await;
    let with = |name: &str, url: &str, extra: Value| {
        let mut c = credentials(name, url, &prefix);
        for (k, v) in extra.as_object().unwrap() {
            c[k] = v.clone();
        }
        body("elasticsearch", c)
    };
    let job = app
        .create_and_wait(&with(
            "wrong",
            &front,
            json!({"username": "elastic", "password": "wrong"}),
        ))
        .await;
    assert_eq!(job["error"]["code"], "CREDENTIAL_TEST_FAILED", "{job}");
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the cluster refused the credentials"),
        "{job}"
    );
    let job = app
        .create_and_wait(&with(
            "right",
            &front,
            json!({"username": "elastic", "password": "right-password"}),
        ))
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let job = app
        .create_and_wait(&with("key", &front, json!({"apiKey": "good-api-key"})))
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");

    app.unreachable_and_silent("elasticsearch", |name, url| credentials(name, url, &prefix))
        .await;

    let r = app.post_datasource(&body("opensearch", json!({"name": "cloud", "deploymentType": "elastic-cloud", "apiKey": "k", "username": "u"}))).await;
    let answer: Value = r.json().await.unwrap();
    let fields: Vec<&str> = answer["error"]["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(
        fields,
        ["credentials.cloudId", "credentials.apiKey"],
        "{answer}"
    );
    app.stop().await;
}
