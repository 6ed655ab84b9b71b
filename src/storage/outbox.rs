//! The outbox: messages written in the same transaction as the state they announce,
//! published by the relay, deleted only once the broker confirmed them.

use serde_json::Value;
use sqlx::PgConnection;
use uuid::Uuid;

use super::{OUTBOX_CHANNEL, StoreError};
use crate::config::Settings;
use crate::domain::JobMessage;
use crate::events::CloudEvent;
use crate::queue::JOB_ROUTING_KEY;

#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub id: i64,
    pub exchange: String,
    pub routing_key: String,
    pub payload: Value,
    pub headers: Value,
}

pub async fn insert(
    conn: &mut PgConnection,
    exchange: &str,
    routing_key: &str,
    payload: &Value,
    headers: &Value,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO outbox (exchange, routing_key, payload, headers) VALUES ($1, $2, $3, $4)",
    )
    .bind(exchange)
    .bind(routing_key)
    .bind(payload)
    .bind(headers)
    .execute(&mut *conn)
    .await?;
    // Delivered at commit: wakes the relay at once instead of at its next poll.
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(OUTBOX_CHANNEL)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn insert_job(
    conn: &mut PgConnection,
    settings: &Settings,
    message: &JobMessage,
    trace_parent: Option<&str>,
) -> Result<(), StoreError> {
    let headers = match trace_parent {
        Some(tp) => serde_json::json!({"traceparent": tp}),
        None => serde_json::json!({}),
    };
    let payload = serde_json::to_value(message).expect("job message serialises");
    insert(
        conn,
        &settings.jobs_exchange(),
        JOB_ROUTING_KEY,
        &payload,
        &headers,
    )
    .await
}

pub async fn insert_event(
    conn: &mut PgConnection,
    settings: &Settings,
    org_id: Uuid,
    event: &CloudEvent,
) -> Result<(), StoreError> {
    let payload = serde_json::to_value(event).expect("event serialises");
    insert(
        conn,
        &settings.events_exchange(),
        &event.routing_key(org_id),
        &payload,
        &serde_json::json!({}),
    )
    .await
}
