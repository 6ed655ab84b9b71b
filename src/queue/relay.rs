//! The outbox relay: publishes rows of the outbox with publisher confirms and deletes
//! them only after the broker confirmed. Any number of relays may run: rows are
//! claimed with `FOR UPDATE SKIP LOCKED`. A crash between publish and delete
//! publishes a row twice, never zero times; consumers are idempotent.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use super::{Broker, OutgoingMessage};
use crate::storage::outbox::{self, OutboxRow};

const BATCH: i64 = 256;

#[derive(Debug, thiserror::Error)]
enum RelayError {
    #[error(transparent)]
    Db(#[from] crate::storage::StoreError),
    #[error(transparent)]
    Queue(#[from] super::QueueError),
}

pub async fn run(
    pool: PgPool,
    broker: Arc<Broker>,
    poll: Duration,
    max_bytes: usize,
    limits: outbox::Limits,
    shutdown: CancellationToken,
) {
    let mut wakeups = outbox::Wakeups::default();
    let mut backoff = Duration::from_millis(100);
    loop {
        if shutdown.is_cancelled() {
            break;
        }
        match publish_batch(&pool, &broker, max_bytes, limits).await {
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
        tokio::select! {
            _ = wakeups.wait(&pool, poll) => {}
            _ = shutdown.cancelled() => break,
        }
    }
    // Rows written while the process was stopping are still published, if the broker lets us.
    let flush = async {
        while let Ok(n) = publish_batch(&pool, &broker, max_bytes, limits).await {
            if n == 0 {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(5), flush).await;
}

/// How often a row may fail to publish on its own, while the broker takes others,
/// before it is set aside.
const MAX_ROW_ATTEMPTS: i32 = 3;

async fn publish_batch(
    pool: &PgPool,
    broker: &Broker,
    max_bytes: usize,
    limits: outbox::Limits,
) -> Result<usize, RelayError> {
    let mut batch = outbox::claim(pool, BATCH, limits).await?;
    if batch.rows.is_empty() {
        return Ok(0);
    }
    let mut ready = Vec::with_capacity(batch.rows.len());
    for (row, attempts) in batch.rows.clone().into_iter().zip(batch.attempts.clone()) {
        let message = to_message(&row);
        if message.payload.len() > max_bytes {
            let reason = format!(
                "{} bytes, over outbox_max_message_bytes ({max_bytes})",
                message.payload.len()
            );
            set_aside(&mut batch, &row, &reason).await?;
            continue;
        }
        ready.push((row.id, message, attempts));
    }
    let messages: Vec<OutgoingMessage> = ready.iter().map(|(_, m, _)| m.clone()).collect();
    if broker.publish_all(&messages).await.is_ok() {
        let ids: Vec<i64> = ready.iter().map(|(id, _, _)| *id).collect();
        batch.published(&ids).await?;
        batch.commit().await?;
        return Ok(ids.len());
    }
    // The batch failed: either the broker is away (wait and try again), or it refuses
    // one message on its own (too large, an exchange that is gone). One at a time
    // tells which; a row the broker keeps refusing while it takes the others is set
    // aside, so no row can stop every tenant's messages.
    if !broker.is_connected().await {
        return Err(RelayError::Queue(super::QueueError::Closed));
    }
    let mut published = Vec::new();
    let mut refused = Vec::new();
    for (id, message, attempts) in &ready {
        match broker.publish_all(std::slice::from_ref(message)).await {
            Ok(()) => published.push(*id),
            Err(e) => {
                if !broker.is_connected().await {
                    batch.published(&published).await?;
                    batch.commit().await?;
                    return Err(e.into());
                }
                refused.push((*id, message, *attempts, e));
            }
        }
    }
    batch.published(&published).await?;
    // A row is to blame only when the broker took others in the same pass, or closed
    // the channel over that message itself (no such exchange, a precondition).
    // Otherwise the broker refuses everything (an alarm, a blanket nack): nothing is
    // counted against any row, and the relay waits.
    let broker_wide = published.is_empty() && !refused.iter().all(|(.., e)| names_the_message(e));
    if broker_wide && let Some((.., e)) = refused.pop() {
        batch.commit().await?;
        return Err(e.into());
    }
    for (id, message, attempts, e) in refused {
        if attempts + 1 >= MAX_ROW_ATTEMPTS {
            let row = OutboxRow {
                id,
                exchange: message.exchange.clone(),
                routing_key: message.routing_key.clone(),
                payload: serde_json::from_slice(&message.payload).unwrap_or(Value::Null),
                headers: Value::Null,
            };
            set_aside(&mut batch, &row, &format!("refused by the broker: {e}")).await?;
        } else {
            tracing::warn!(outbox_id = id, attempt = attempts + 1, error = %e, "broker refused one outbox message; trying it again later");
            batch.failed_once(id).await?;
        }
    }
    batch.commit().await?;
    Ok(published.len())
}

/// A channel closed by the broker over one message: its exchange is gone, or a
/// precondition of it failed (AMQP 404, 406).
fn names_the_message(e: &super::QueueError) -> bool {
    let text = e.to_string();
    text.contains("NOT_FOUND") || text.contains("PRECONDITION_FAILED")
}

async fn set_aside(
    batch: &mut outbox::Claimed,
    row: &OutboxRow,
    reason: &str,
) -> Result<(), RelayError> {
    tracing::error!(outbox_id = row.id, exchange = %row.exchange, routing_key = %row.routing_key, reason, "outbox message set aside in outbox_rejected; the others go on");
    metrics::counter!("onramp_outbox_set_aside_total").increment(1);
    batch.set_aside(row.id, reason).await?;
    // A job whose message can never be published would wait for ever: it ends now.
    if row.payload.get("specversion").is_none()
        && let Some(job_id) = row
            .payload
            .get("jobId")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<crate::domain::JobId>().ok())
    {
        batch.fail_job(job_id).await?;
    }
    Ok(())
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
        payload: serde_json::to_vec(&row.payload).unwrap_or_default(),
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
