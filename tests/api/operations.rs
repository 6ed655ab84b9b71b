//! Health, readiness, metrics and the OpenAPI document.

use serde_json::Value;

use crate::helpers::proxy::Proxy;
use crate::helpers::{spawn_app, spawn_with};

#[tokio::test]
async fn health_readiness_metrics_and_openapi_answer() {
    let app = spawn_app().await;
    assert_eq!(
        app.client
            .get(app.url("/healthz"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    let ready: Value = app
        .client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        ready,
        serde_json::json!({"postgres": "ok", "redis": "ok", "rabbitmq": "ok"})
    );
    let _ = app.get("/api/v2/datasource").await;
    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metrics.contains("onramp_http_requests_total"), "{metrics}");
    let doc: Value = app
        .client
        .get(app.url("/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    assert!(doc["paths"]["/api/v2/datasource"]["post"].is_object());
    assert!(
        doc["components"]["schemas"]["request.postgres"]["properties"]["credentials"].is_object()
    );
    app.stop().await;
}

#[tokio::test]
async fn readiness_names_the_dependency_that_is_down() {
    let redis = Proxy::start("127.0.0.1:6379").await;
    let url = format!("redis://{}/", redis.addr());
    let app = spawn_with(|s| s.redis_url = url.into()).await;
    redis.cut();
    let response = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(response.status(), 503);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["redis"], "unavailable");
    assert_eq!(body["postgres"], "ok");
    app.stop().await;
}

#[tokio::test]
async fn the_api_answers_503_and_records_nothing_while_its_database_is_unreachable() {
    let pg = Proxy::start("127.0.0.1:5432").await;
    let id = crate::helpers::unique("t");
    let mut settings = crate::helpers::test_settings(&id);
    settings.database_url = format!("postgres://postgres@{}/onramp_{id}", pg.addr()).into();
    let app = crate::helpers::spawn_settings(
        id,
        settings,
        onramp::startup::Roles {
            api: true,
            worker: true,
        },
    )
    .await;
    pg.cut();
    let payload = crate::helpers::body(
        "postgres",
        crate::helpers::targets::pg_credentials("while-pg-down", "public"),
    );
    let response = app.post_datasource(&payload).await;
    assert_eq!(response.status(), 503);
    let answer: Value = response.json().await.unwrap();
    assert_eq!(answer["error"]["code"], "SERVICE_UNAVAILABLE");
    assert!(
        !answer.to_string().contains("postgres://"),
        "no connection string in answers: {answer}"
    );
    pg.restore();
    assert_eq!(app.count("datasources").await, 0);
    // And once it is back, the same request goes through.
    assert_eq!(app.post_datasource(&payload).await.status(), 202);
    app.stop().await;
}
