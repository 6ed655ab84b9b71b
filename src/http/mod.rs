//! The HTTP API: shape checks, records, and answers; never a connection to a target.

pub mod answers;
pub mod auth;
pub mod aws;
pub mod datasources;
pub mod error;
pub mod events;
pub mod health;
pub mod jobs;
pub mod openapi;
pub mod request;
pub mod streams;
pub mod webhooks;

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use sqlx::PgPool;
use tracing::Instrument;

use crate::config::Settings;
use crate::queue::Broker;
use crate::storage::crypto::SecretKey;
use crate::storage::snapshots::SnapshotStore;

#[derive(Clone)]
pub struct AppState {
    pub settings: Arc<Settings>,
    pub pool: PgPool,
    pub store: Arc<SnapshotStore>,
    pub key: SecretKey,
    pub broker: Arc<Broker>,
    /// Cancelled when the process stops: long-lived answers (SSE, `?wait`) end early
    /// so the server can shut down.
    pub stopping: tokio_util::sync::CancellationToken,
    /// The API uses its policy to refuse literal addresses early; it never connects.
    pub egress: crate::egress::Egress,
    /// Open streams and waits, and the one poller that feeds them.
    pub streams: Arc<streams::Streams>,
    /// The one reader of new events that feeds every organisation event stream.
    pub events: Arc<events::EventFeed>,
}

pub fn router(state: AppState) -> Router {
    // Room for an uploaded file; plain JSON bodies are held to body_limit_bytes by the handler.
    let limit = state
        .settings
        .body_limit_bytes
        .max(state.settings.upload_limit_bytes + 64 * 1024);
    let api = Router::new()
        .route(
            "/datasource",
            post(datasources::create)
                .put(datasources::update)
                .get(datasources::list)
                .delete(datasources::delete),
        )
        .route(
            "/datasource/sync",
            post(datasources::sync).get(datasources::get_literal),
        )
        .route(
            "/datasource/test",
            post(datasources::test_run::test).get(datasources::get_literal),
        )
        .route("/datasource/{name}", get(datasources::get))
        .route(
            "/datasource/{name}/schema",
            get(datasources::snapshot_read::schema),
        )
        .route(
            "/datasource/{name}/schema/changes",
            get(datasources::schema_changes::list),
        )
        .route("/jobs/{id}", get(jobs::get))
        .route("/jobs/{id}/events", get(jobs::events))
        .route("/aws/external-id", get(aws::external_id))
        .route("/events", get(events::stream))
        .route("/webhooks", post(webhooks::create).get(webhooks::list))
        .route(
            "/webhooks/{id}",
            get(webhooks::get)
                .patch(webhooks::update)
                .delete(webhooks::delete),
        )
        .route("/webhooks/{id}/test", post(webhooks::test))
        .route("/webhooks/{id}/deliveries", get(webhooks::deliveries))
        .route("/webhooks/deliveries/{id}/retry", post(webhooks::retry));
    Router::new()
        .nest("/api/v2", api)
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/openapi.json", get(openapi::serve))
        .fallback(|| async {
            error::ApiError::new(
                crate::domain::ErrorCode::DatasourceNotFound,
                "no such route",
            )
            .into_response()
        })
        .layer(DefaultBodyLimit::max(limit))
        .layer(middleware::from_fn(observe))
        // A bug that panics in a handler answers 500 in the contract's shape rather
        // than dropping the connection; the cause goes to the log only.
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(panicked))
        .with_state(state)
}

/// What a process without the API serves: its metrics and health, for Prometheus
/// and the orchestrator's probes.
pub fn metrics_router(state: AppState) -> Router {
    Router::new()
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .with_state(state)
}

fn panicked(panic: Box<dyn std::any::Any + Send>) -> Response {
    let text = panic
        .downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_default();
    let error_id = uuid::Uuid::now_v7();
    tracing::error!(error_id = %error_id, panic = %text, "request handler panicked");
    error::ApiError::new(
        crate::domain::ErrorCode::InternalServerError,
        format!("internal error (error id {error_id})"),
    )
    .into_response()
}

/// Counts and times every request by route and status; logs without bodies or headers.
async fn observe(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_string())
        .unwrap_or_else(|| "unmatched".into());
    // Methods are a closed set in the label: a client can send any token as a method,
    // and each new label value would be a new series.
    let method = match request.method().as_str() {
        m @ ("GET" | "POST" | "PUT" | "PATCH" | "DELETE" | "HEAD" | "OPTIONS") => m,
        _ => "other",
    }
    .to_string();
    // One span per request, continuing the caller's trace when it sent one.
    let span = tracing::info_span!("http request", http.method = %method, http.route = %route);
    let headers: std::collections::HashMap<String, String> = ["traceparent", "tracestate"]
        .iter()
        .filter_map(|h| {
            let v = request.headers().get(*h)?.to_str().ok()?;
            Some((h.to_string(), v.to_string()))
        })
        .collect();
    crate::telemetry::continue_trace(&span, &headers);
    let response = next.run(request).instrument(span).await;
    let status = response.status().as_u16().to_string();
    let seconds = started.elapsed().as_secs_f64();
    metrics::counter!("onramp_http_requests_total", "route" => route.clone(), "method" => method.clone(), "status" => status.clone()).increment(1);
    metrics::histogram!("onramp_http_request_duration_seconds", "route" => route.clone(), "method" => method.clone()).record(seconds);
    tracing::debug!(method = %method, route = %route, status = %status, duration_ms = (seconds * 1000.0) as u64, "request");
    response
}
