//! The outbox relay: publishes rows of the outbox with publisher confirms and deletes
//! them only after the broker confirmed. Any number of relays may run: rows are
//! claimed with `FOR UPDATE SKIP LOCKED`. A crash between publish and delete
//! publishes a row twice, never zero times; consumers are idempotent.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

use super::{Broker, OutgoingMessage};
use crate::storage::OUTBOX_CHANNEL;
use crate::storage::outbox::OutboxRow;

const BATCH: i64 = 256;

#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error(transparent)]
    Db(#[from] sqlx::Error),
    #[error(transparent)]
    Queue(#[from] super::QueueError),
}

pub async fn run(pool: PgPool, broker: Arc<Broker>, poll: Duration, shutdown: CancellationToken) {
    let mut listener: Option<PgListener> = None;
    let mut backoff = Duration::from_millis(100);
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        match publish_batch(&pool, &broker).await {
            Ok(n) => {
                backoff = Duration::from_millis(100);
                metrics::counter!("onramp_outbox_published_total").increment(n as u64);
                if n as i64 == BATCH {
                    continue;
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, retry_in_ms = backoff.as_millis() as u64, "outbox relay could not publish");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = shutdown.cancelled() => break,
                }
                backoff = (backoff * 2).min(Duration::from_secs(5));
                continue;
            }
        }
        if listener.is_none() {
            listener = match PgListener::connect_with(&pool).await {
                Ok(mut l) => match l.listen(OUTBOX_CHANNEL).await {
                    Ok(()) => Some(l),
                    Err(_) => None,
                },
                Err(_) => None,
            };
        }
        // Wait for a notification, or poll: a notification can be missed while reconnecting.
        let wait = async {
            match listener.as_mut() {
                Some(l) => match tokio::time::timeout(poll, l.recv()).await {
                    Ok(Ok(_)) | Err(_) => true,
                    Ok(Err(_)) => false,
                },
                None => {
                    tokio::time::sleep(poll).await;
                    true
                }
            }
        };
        tokio::select! {
            healthy = wait => if !healthy { listener = None; },
            _ = shutdown.cancelled() => break,
        }
    }
    // Rows written while the process was stopping are still published, if the broker lets us.
    let flush = async {
        while let Ok(n) = publish_batch(&pool, &broker).await {
            if n == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), flush).await;
}

async fn publish_batch(pool: &PgPool, broker: &Broker) -> Result<usize, RelayError> {
    let mut tx = pool.begin().await?;
    let rows: Vec<(i64, String, String, Value, Value)> = sqlx::query_as(
        "SELECT id, exchange, routing_key, payload, headers FROM outbox ORDER BY id LIMIT $1 FOR UPDATE SKIP LOCKED",
    )
    .bind(BATCH)
    .fetch_all(&mut *tx)
    .await?;
    if rows.is_empty() {
        return Ok(0);
    }
    let rows: Vec<OutboxRow> = rows
        .into_iter()
        .map(|(id, exchange, routing_key, payload, headers)| OutboxRow {
            id,
            exchange,
            routing_key,
            payload,
            headers,
        })
        .collect();
    let messages: Vec<OutgoingMessage> = rows.iter().map(to_message).collect();
    broker.publish_all(&messages).await?;
    let ids: Vec<i64> = rows.iter().map(|r| r.id).collect();
    sqlx::query("DELETE FROM outbox WHERE id = ANY($1)")
        .bind(&ids)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(rows.len())
}

fn to_message(row: &OutboxRow) -> OutgoingMessage {
    let headers = row
        .headers
        .as_object()
        .map(|h| {
            h.iter()
                .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_string())))
                .collect()
        })
        .unwrap_or_default();
    let is_event = row.payload.get("specversion").is_some();
    OutgoingMessage {
        exchange: row.exchange.clone(),
        routing_key: row.routing_key.clone(),
        payload: serde_json::to_vec(&row.payload).expect("json serialises"),
        message_id: row
            .payload
            .get(if is_event { "id" } else { "jobId" })
            .and_then(Value::as_str)
            .map(str::to_string)
            .unwrap_or_else(|| format!("outbox-{}", row.id)),
        content_type: if is_event {
            "application/cloudevents+json"
        } else {
            "application/json"
        },
        headers,
    }
}
