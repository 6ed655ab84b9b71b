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
pub async fn metrics(axum::extract::State(state): axum::extract::State<AppState>) -> Response {
    sample(&state).await;
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        crate::telemetry::metrics().render(),
    )
        .into_response()
}

/// How long sampled gauges are reused.
const SAMPLE_EVERY: Duration = Duration::from_secs(5);

/// The gauges read from onramp's servers rather than counted as things happen,
/// read when Prometheus scrapes: every process reports the same global values, so
/// dashboards take their max. A server that does not answer leaves the last value.
async fn sample(state: &AppState) {
    // One scrape samples at a time, at most every few seconds: `/metrics` needs no
    // token, and must not become a way to load onramp's servers.
    static SAMPLED: tokio::sync::Mutex<Option<std::time::Instant>> =
        tokio::sync::Mutex::const_new(None);
    let mut last = SAMPLED.lock().await;
    if last.is_some_and(|at| at.elapsed() < SAMPLE_EVERY) {
        return;
    }
    *last = Some(std::time::Instant::now());
    let pool = &state.pool;
    if let Ok((n, age)) = crate::storage::outbox::backlog(pool).await {
        metrics::gauge!("onramp_outbox_backlog").set(n as f64);
        metrics::gauge!("onramp_outbox_oldest_age_seconds").set(age);
    }
    if let Ok((n, age)) = crate::storage::webhooks::backlog(pool).await {
        metrics::gauge!("onramp_webhook_backlog").set(n as f64);
        metrics::gauge!("onramp_webhook_oldest_due_age_seconds").set(age);
    }
    if let Ok(age) = crate::storage::jobs::oldest_queued_age(pool).await {
        metrics::gauge!("onramp_jobs_queued_oldest_age_seconds").set(age);
    }
    let s = &state.settings;
    for (label, queue) in [("jobs", s.jobs_queue()), ("dead", s.dead_letter_queue())] {
        if let Ok((messages, consumers)) = state.broker.queue_counts(&queue).await {
            metrics::gauge!("onramp_queue_messages", "queue" => label).set(f64::from(messages));
            metrics::gauge!("onramp_queue_consumers", "queue" => label).set(f64::from(consumers));
        }
    }
}
