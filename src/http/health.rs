//! Liveness, readiness and metrics.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;

pub async fn healthz() -> Response {
    Json(json!({"status": "ok"})).into_response()
}

/// Ready when PostgreSQL, RabbitMQ and Redis all answer within two seconds.
pub async fn readyz(State(state): State<AppState>) -> Response {
    let limit = Duration::from_secs(2);
    let (pg, redis, amqp) = tokio::join!(
        tokio::time::timeout(limit, sqlx::query("SELECT 1").execute(&state.pool)),
        tokio::time::timeout(limit, state.store.ping()),
        tokio::time::timeout(limit, state.broker.is_connected()),
    );
    let pg = matches!(pg, Ok(Ok(_)));
    let redis = matches!(redis, Ok(Ok(())));
    let amqp = matches!(amqp, Ok(true));
    let status = if pg && redis && amqp {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let word = |ok: bool| if ok { "ok" } else { "unavailable" };
    (
        status,
        Json(json!({"postgres": word(pg), "redis": word(redis), "rabbitmq": word(amqp)})),
    )
        .into_response()
}

pub async fn metrics() -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        crate::telemetry::metrics().render(),
    )
        .into_response()
}
