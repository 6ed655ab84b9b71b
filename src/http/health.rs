//! Liveness, readiness and metrics.

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use super::AppState;
use super::answers::{Alive, Liveness, Readiness};

#[utoipa::path(get, path = "/healthz", summary = "liveness", security(()),
    responses((status = 200, description = "alive", body = Liveness)))]
pub async fn healthz() -> Response {
    Json(Liveness { status: Alive::Ok }).into_response()
}

/// Ready when PostgreSQL, RabbitMQ and Redis all answer within two seconds.
#[utoipa::path(get, path = "/readyz", summary = "readiness of PostgreSQL, RabbitMQ and Redis", security(()),
    responses(
        (status = 200, description = "ready", body = Readiness),
        (status = 503, description = "not ready", body = Readiness),
    ))]
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
    let readiness = Readiness {
        postgres: pg.into(),
        redis: redis.into(),
        rabbitmq: amqp.into(),
    };
    (status, Json(readiness)).into_response()
}

#[utoipa::path(get, path = "/metrics", summary = "Prometheus metrics", security(()),
    responses((status = 200, description = "metrics", content_type = "text/plain", body = String)))]
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
