//! Webhooks and their deliveries. A delivery row is written by the outbox's trigger
//! in the transaction that publishes the event (migration 0010), so it exists
//! exactly when the event does; deliverers lease due rows, send them, and record
//! each attempt under the lease they hold.

use std::time::Duration;

use chrono::{DateTime, Utc};
use serde_json::Value;
use sqlx::PgPool;
use uuid::Uuid;

use super::StoreError;
use super::crypto::SecretKey;
use crate::config::Settings;
use crate::domain::events::CloudEvent;
use crate::domain::webhooks::{SigningSecret, WEBHOOK_DISABLED, next_attempt_in};
use crate::domain::{DeliveryId, OrgId, WebhookId};

/// The notification channel the trigger wakes deliverers on.
pub const WEBHOOKS_CHANNEL: &str = "onramp_webhooks";

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct WebhookRecord {
    pub id: WebhookId,
    pub org_id: OrgId,
    pub url: String,
    pub events: Vec<String>,
    pub description: Option<String>,
    pub enabled: bool,
    pub disabled_reason: Option<String>,
    pub consecutive_failures: i32,
    pub old_secret_until: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

const COLUMNS: &str = "id, org_id, url, events, description, enabled, disabled_reason, \
    consecutive_failures, old_secret_until, created_at, updated_at";

fn seal(key: &SecretKey, id: WebhookId, secret: &SigningSecret) -> Vec<u8> {
    key.seal(secret.bytes(), id.as_uuid().as_bytes())
}

fn open(key: &SecretKey, id: WebhookId, sealed: &[u8]) -> Result<SigningSecret, StoreError> {
    SigningSecret::from_bytes(key.open(sealed, id.as_uuid().as_bytes())?)
        .ok_or_else(|| StoreError::Corrupt("a webhook's signing secret is empty".into()))
}

/// What a create asks for.
pub struct NewWebhook<'a> {
    pub url: &'a str,
    pub events: &'a [String],
    pub description: Option<&'a str>,
}

/// Wakes the deliverers when the transaction commits, instead of at their next poll.
async fn wake_deliverers(tx: &mut sqlx::PgConnection) -> Result<(), StoreError> {
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(WEBHOOKS_CHANNEL)
        .execute(tx)
        .await?;
    Ok(())
}

/// A new webhook and its signing secret (shown once), or `None` when the
/// organisation has `max` already. Counted and written under a lock of the
/// organisation, so that creates at the same moment cannot pass the limit together.
pub async fn create(
    pool: &PgPool,
    key: &SecretKey,
    org: OrgId,
    new: NewWebhook<'_>,
    max: i64,
) -> Result<Option<(WebhookRecord, SigningSecret)>, StoreError> {
    let mut tx = pool.begin().await?;
    sqlx::query(
        "SELECT pg_advisory_xact_lock(hashtextextended('onramp webhooks ' || $1::text, 0))",
    )
    .bind(org)
    .execute(&mut *tx)
    .await?;
    let held: i64 = sqlx::query_scalar("SELECT count(*) FROM webhooks WHERE org_id = $1")
        .bind(org)
        .fetch_one(&mut *tx)
        .await?;
    if held >= max {
        return Ok(None);
    }
    let id = WebhookId::generate();
    let secret = SigningSecret::generate();
    let sql = format!(
        "INSERT INTO webhooks (id, org_id, url, events, description, secret_sealed)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    );
    let row = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(id)
        .bind(org)
        .bind(new.url)
        .bind(new.events)
        .bind(new.description)
        .bind(seal(key, id, &secret))
        .fetch_one(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(Some((row, secret)))
}

pub async fn get(
    pool: &PgPool,
    org: OrgId,
    id: WebhookId,
) -> Result<Option<WebhookRecord>, StoreError> {
    let sql = format!("SELECT {COLUMNS} FROM webhooks WHERE org_id = $1 AND id = $2");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(id)
        .fetch_optional(pool)
        .await?)
}

pub async fn list(
    pool: &PgPool,
    org: OrgId,
    limit: i64,
    offset: i64,
) -> Result<(Vec<WebhookRecord>, i64), StoreError> {
    let sql = format!(
        "SELECT {COLUMNS} FROM webhooks WHERE org_id = $1 ORDER BY created_at, id LIMIT $2 OFFSET $3"
    );
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(limit)
        .bind(offset)
        .fetch_all(pool)
        .await?;
    let total = sqlx::query_scalar("SELECT count(*) FROM webhooks WHERE org_id = $1")
        .bind(org)
        .fetch_one(pool)
        .await?;
    Ok((rows, total))
}

/// What a PATCH changes; `None` leaves a field as it is.
#[derive(Debug, Default)]
pub struct Changes {
    pub url: Option<String>,
    pub events: Option<Vec<String>>,
    /// `Some(None)` clears the description.
    pub description: Option<Option<String>>,
    pub enabled: Option<bool>,
    pub rotate_secret: bool,
}

/// Applies `changes`; a rotation keeps the previous secret signing for `grace` and
/// returns the new one (shown once). Enabling a webhook clears its failures.
pub async fn update(
    pool: &PgPool,
    key: &SecretKey,
    org: OrgId,
    id: WebhookId,
    changes: Changes,
    grace: Duration,
) -> Result<Option<(WebhookRecord, Option<SigningSecret>)>, StoreError> {
    let mut tx = pool.begin().await?;
    let current: Option<(Vec<u8>,)> = sqlx::query_as(
        "SELECT secret_sealed FROM webhooks WHERE org_id = $1 AND id = $2 FOR UPDATE",
    )
    .bind(org)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some((sealed,)) = current else {
        return Ok(None);
    };
    let rotated = changes.rotate_secret.then(SigningSecret::generate);
    let sql = format!(
        "UPDATE webhooks SET
           url = coalesce($3, url),
           events = coalesce($4, events),
           description = CASE WHEN $5 THEN $6 ELSE description END,
           enabled = coalesce($7, enabled),
           disabled_reason = CASE WHEN $7 THEN NULL ELSE disabled_reason END,
           consecutive_failures = CASE WHEN $7 THEN 0 ELSE consecutive_failures END,
           secret_sealed = coalesce($8, secret_sealed),
           old_secret_sealed = CASE WHEN $8 IS NULL THEN old_secret_sealed ELSE $9 END,
           old_secret_until = CASE WHEN $8 IS NULL THEN old_secret_until
                                   ELSE now() + $10 * interval '1 millisecond' END,
           updated_at = now()
         WHERE org_id = $1 AND id = $2 RETURNING {COLUMNS}"
    );
    let row: WebhookRecord = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(id)
        .bind(changes.url)
        .bind(changes.events)
        .bind(changes.description.is_some())
        .bind(changes.description.flatten())
        .bind(changes.enabled)
        .bind(rotated.as_ref().map(|s| seal(key, id, s)))
        .bind(sealed)
        .bind(i64::try_from(grace.as_millis()).unwrap_or(i64::MAX))
        .fetch_one(&mut *tx)
        .await?;
    if changes.enabled == Some(true) {
        // What waited while it was off starts its retry window now, rather than
        // giving up at its first failure for a window spent disabled.
        sqlx::query(
            "UPDATE webhook_deliveries SET retry_from = now(), next_attempt_at = now()
             WHERE webhook_id = $1 AND status = 'pending'",
        )
        .bind(id)
        .execute(&mut *tx)
        .await?;
        wake_deliverers(&mut tx).await?;
    }
    tx.commit().await?;
    Ok(Some((row, rotated)))
}

pub async fn delete(pool: &PgPool, org: OrgId, id: WebhookId) -> Result<bool, StoreError> {
    let done = sqlx::query("DELETE FROM webhooks WHERE org_id = $1 AND id = $2")
        .bind(org)
        .bind(id)
        .execute(pool)
        .await?;
    Ok(done.rows_affected() == 1)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct DeliveryRecord {
    pub id: DeliveryId,
    pub webhook_id: WebhookId,
    pub event_id: String,
    pub event_type: String,
    pub status: String,
    pub attempts: i32,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub last_status_code: Option<i32>,
    pub last_duration_ms: Option<i32>,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}

const DELIVERY_COLUMNS: &str = "id, webhook_id, event_id, event_type, status, attempts, \
    CASE WHEN status = 'pending' THEN next_attempt_at END AS next_attempt_at, \
    last_status_code, last_duration_ms, last_error, created_at, finished_at";

/// A webhook's delivery log, newest first.
pub async fn deliveries(
    pool: &PgPool,
    org: OrgId,
    webhook: WebhookId,
    limit: i64,
    offset: i64,
) -> Result<(Vec<DeliveryRecord>, i64), StoreError> {
    let sql = format!(
        "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries
         WHERE org_id = $1 AND webhook_id = $2 ORDER BY created_at DESC, id LIMIT $3 OFFSET $4"
    );
    let rows = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(webhook)
        .bind(limit)
        .bind(offset)
        .fetch_all(pool)
        .await?;
    let total = sqlx::query_scalar(
        "SELECT count(*) FROM webhook_deliveries WHERE org_id = $1 AND webhook_id = $2",
    )
    .bind(org)
    .bind(webhook)
    .fetch_one(pool)
    .await?;
    Ok((rows, total))
}

pub async fn delivery(
    pool: &PgPool,
    org: OrgId,
    id: DeliveryId,
) -> Result<Option<DeliveryRecord>, StoreError> {
    let sql =
        format!("SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE org_id = $1 AND id = $2");
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(id)
        .fetch_optional(pool)
        .await?)
}

/// One event for one webhook only (the test event), outside the broker.
pub async fn enqueue(
    pool: &PgPool,
    org: OrgId,
    webhook: WebhookId,
    event: &CloudEvent,
) -> Result<DeliveryId, StoreError> {
    let mut tx = pool.begin().await?;
    let id: DeliveryId = sqlx::query_scalar(
        "INSERT INTO webhook_deliveries (webhook_id, org_id, event_id, event_type, event)
         VALUES ($1, $2, $3, $4, $5) RETURNING id",
    )
    .bind(webhook)
    .bind(org)
    .bind(&event.id)
    .bind(&event.event_type)
    .bind(serde_json::to_value(event).expect("event serialises"))
    .fetch_one(&mut *tx)
    .await?;
    wake_deliverers(&mut tx).await?;
    tx.commit().await?;
    Ok(id)
}

/// What a manual retry came to.
#[derive(Debug)]
pub enum Retried {
    Queued(DeliveryRecord),
    /// Not the organisation's, or no such delivery.
    Missing,
    /// Its webhook is disabled: nothing would be sent.
    Disabled,
    /// An attempt is being made right now.
    InFlight,
}

/// Sends a delivery again now (a failed one, one waiting for its next attempt, or a
/// delivered one, to send it once more), its attempts and retry window started over.
pub async fn retry(pool: &PgPool, org: OrgId, id: DeliveryId) -> Result<Retried, StoreError> {
    let mut tx = pool.begin().await?;
    let state: Option<(bool, bool)> = sqlx::query_as(
        "SELECT w.enabled, coalesce(d.leased_until > now(), false)
         FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
         WHERE d.org_id = $1 AND d.id = $2 FOR UPDATE OF d",
    )
    .bind(org)
    .bind(id)
    .fetch_optional(&mut *tx)
    .await?;
    match state {
        None => return Ok(Retried::Missing),
        Some((false, _)) => return Ok(Retried::Disabled),
        Some((_, true)) => return Ok(Retried::InFlight),
        Some(_) => {}
    }
    let sql = format!(
        "UPDATE webhook_deliveries SET status = 'pending', next_attempt_at = now(),
           retry_from = now(), finished_at = NULL, attempts = 0
         WHERE org_id = $1 AND id = $2 RETURNING {DELIVERY_COLUMNS}"
    );
    let row = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(id)
        .fetch_one(&mut *tx)
        .await?;
    wake_deliverers(&mut tx).await?;
    tx.commit().await?;
    Ok(Retried::Queued(row))
}

/// A delivery leased for sending, with what it takes to sign it.
#[derive(Debug, Clone)]
pub struct Due {
    pub id: DeliveryId,
    pub webhook_id: WebhookId,
    pub org_id: OrgId,
    pub event_id: String,
    pub event: Value,
    pub attempts: i32,
    pub retry_from: DateTime<Utc>,
    pub url: String,
    pub secrets: Vec<SigningSecret>,
    pub lease: Uuid,
}

#[derive(sqlx::FromRow)]
struct DueRow {
    id: DeliveryId,
    webhook_id: WebhookId,
    org_id: OrgId,
    event_id: String,
    event: Value,
    attempts: i32,
    retry_from: DateTime<Utc>,
    url: String,
    secret_sealed: Vec<u8>,
    old_secret_sealed: Option<Vec<u8>>,
    signs_with_old: bool,
}

/// Leases up to `limit` due deliveries of enabled webhooks for `lease`, holding each
/// webhook to `webhook_endpoint_concurrency` and each organisation to
/// `webhook_org_concurrency` deliveries in flight across all deliverers. Rows
/// another deliverer is claiming are skipped, not waited for.
pub async fn claim(
    pool: &PgPool,
    key: &SecretKey,
    settings: &Settings,
    limit: i64,
    lease: Duration,
) -> Result<Vec<Due>, StoreError> {
    let token = Uuid::now_v7();
    let rows: Vec<DueRow> = sqlx::query_as(
        "WITH busy_hook AS (
           SELECT webhook_id, count(*) AS n FROM webhook_deliveries
           WHERE status = 'pending' AND leased_until > now() GROUP BY webhook_id
         ), busy_org AS (
           SELECT org_id, count(*) AS n FROM webhook_deliveries
           WHERE status = 'pending' AND leased_until > now() GROUP BY org_id
         ), due AS (
           SELECT d.id, d.webhook_id, d.org_id, d.next_attempt_at,
             row_number() OVER (PARTITION BY d.webhook_id ORDER BY d.next_attempt_at, d.id) AS in_hook
           FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
           WHERE d.status = 'pending' AND w.enabled AND d.next_attempt_at <= now()
             AND (d.leased_until IS NULL OR d.leased_until <= now())
         ), within_hook AS (
           -- Numbered per organisation only among the rows their webhook's cap lets
           -- through: one webhook's backlog does not hold back its neighbours.
           SELECT due.id, due.org_id, due.next_attempt_at,
             row_number() OVER (PARTITION BY due.org_id ORDER BY due.next_attempt_at, due.id) AS in_org
           FROM due LEFT JOIN busy_hook bh ON bh.webhook_id = due.webhook_id
           WHERE due.in_hook + coalesce(bh.n, 0) <= $1
         ), picked AS (
           SELECT h.id FROM within_hook h
           LEFT JOIN busy_org bo ON bo.org_id = h.org_id
           WHERE h.in_org + coalesce(bo.n, 0) <= $2
           ORDER BY h.next_attempt_at LIMIT $3
         ), locked AS (
           SELECT d.id FROM webhook_deliveries d
           WHERE d.id IN (SELECT id FROM picked) AND d.status = 'pending'
             AND (d.leased_until IS NULL OR d.leased_until <= now())
           FOR UPDATE SKIP LOCKED
         )
         UPDATE webhook_deliveries d
         SET leased_until = now() + $4 * interval '1 millisecond', lease = $5
         FROM locked, webhooks w
         WHERE d.id = locked.id AND w.id = d.webhook_id
         RETURNING d.id, d.webhook_id, d.org_id, d.event_id, d.event, d.attempts, d.retry_from,
           w.url, w.secret_sealed, w.old_secret_sealed,
           coalesce(w.old_secret_until > now(), false) AS signs_with_old",
    )
    .bind(i64::from(settings.webhook_endpoint_concurrency))
    .bind(i64::from(settings.webhook_org_concurrency))
    .bind(limit)
    .bind(i64::try_from(lease.as_millis()).unwrap_or(i64::MAX))
    .bind(token)
    .fetch_all(pool)
    .await?;
    let mut due = Vec::with_capacity(rows.len());
    for r in rows {
        let opened = open(key, r.webhook_id, &r.secret_sealed).and_then(|current| {
            let mut secrets = vec![current];
            if r.signs_with_old
                && let Some(old) = &r.old_secret_sealed
            {
                secrets.push(open(key, r.webhook_id, old)?);
            }
            Ok(secrets)
        });
        let secrets = match opened {
            Ok(s) => s,
            // Sealed with another key: nothing can sign it, now or later. The row
            // fails alone; the others of the batch go on.
            Err(e) => {
                tracing::error!(webhook_id = %r.webhook_id, error = %e, "a webhook's signing secret does not open; failing its delivery");
                sqlx::query(
                    "UPDATE webhook_deliveries SET status = 'failed', finished_at = now(),
                       leased_until = NULL, lease = NULL,
                       last_error = 'the signing secret could not be opened with this deployment''s secret key'
                     WHERE id = $1 AND lease = $2",
                )
                .bind(r.id)
                .bind(token)
                .execute(pool)
                .await?;
                continue;
            }
        };
        due.push(Due {
            id: r.id,
            webhook_id: r.webhook_id,
            org_id: r.org_id,
            event_id: r.event_id,
            event: r.event,
            attempts: r.attempts,
            retry_from: r.retry_from,
            url: r.url,
            secrets,
            lease: token,
        });
    }
    Ok(due)
}

/// What one attempt came to.
#[derive(Debug, Clone)]
pub struct Attempt {
    /// The receiver's status, when it answered.
    pub status: Option<u16>,
    pub duration: Duration,
    /// Why it failed, in a line (never the URL).
    pub error: Option<String>,
    pub delivered: bool,
}

/// How a recorded attempt left things, for metrics and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    Delivered,
    /// Another attempt is due later.
    WillRetry,
    /// The retry window is over; the webhook was disabled.
    GaveUp,
    /// The lease had passed to another deliverer: nothing written.
    LeaseLost,
}

/// Records `attempt` of `due` under its lease. A failure schedules the next attempt
/// (backoff with jitter) or gives up after `webhook_retry_for`; giving up, or
/// `webhook_max_failures` failures in a row, disables the webhook and publishes
/// `webhook.disabled` in the same transaction.
pub async fn record(
    pool: &PgPool,
    settings: &Settings,
    due: &Due,
    attempt: &Attempt,
) -> Result<(Recorded, bool), StoreError> {
    let mut tx = pool.begin().await?;
    let ms = i32::try_from(attempt.duration.as_millis()).unwrap_or(i32::MAX);
    let status = attempt.status.map(i32::from);
    let error = attempt
        .error
        .as_deref()
        .map(|e| crate::domain::text::cut_target_text(e, 500));
    let since_first = (Utc::now() - due.retry_from).to_std().unwrap_or_default();
    let pause = (!attempt.delivered)
        .then(|| {
            next_attempt_in(
                settings.webhook_retry_base,
                u32::try_from(due.attempts + 1).unwrap_or(u32::MAX),
                since_first,
                settings.webhook_retry_for,
                rand::random::<f64>(),
            )
        })
        .flatten();
    let outcome = if attempt.delivered {
        Recorded::Delivered
    } else if pause.is_some() {
        Recorded::WillRetry
    } else {
        Recorded::GaveUp
    };
    let new_status = match outcome {
        Recorded::Delivered => "delivered",
        Recorded::WillRetry => "pending",
        _ => "failed",
    };
    let updated = sqlx::query(
        "UPDATE webhook_deliveries SET status = $3, attempts = attempts + 1,
           last_status_code = $4, last_duration_ms = $5, last_error = $6,
           next_attempt_at = now() + $7 * interval '1 millisecond',
           finished_at = CASE WHEN $3 = 'pending' THEN NULL ELSE now() END,
           leased_until = NULL, lease = NULL
         WHERE id = $1 AND lease = $2 AND status = 'pending'",
    )
    .bind(due.id)
    .bind(due.lease)
    .bind(new_status)
    .bind(status)
    .bind(ms)
    .bind(error.as_deref())
    .bind(pause.map_or(0, |p| i64::try_from(p.as_millis()).unwrap_or(i64::MAX)))
    .execute(&mut *tx)
    .await?;
    if updated.rows_affected() == 0 {
        return Ok((Recorded::LeaseLost, false));
    }
    let mut disabled = false;
    if attempt.delivered {
        sqlx::query("UPDATE webhooks SET consecutive_failures = 0 WHERE id = $1")
            .bind(due.webhook_id)
            .execute(&mut *tx)
            .await?;
    } else {
        let row: Option<(i32, bool, String)> = sqlx::query_as(
            "UPDATE webhooks SET consecutive_failures = consecutive_failures + 1
             WHERE id = $1 RETURNING consecutive_failures, enabled, url",
        )
        .bind(due.webhook_id)
        .fetch_optional(&mut *tx)
        .await?;
        if let Some((failures, true, url)) = row {
            let too_many = u32::try_from(failures).unwrap_or(0) >= settings.webhook_max_failures;
            if outcome == Recorded::GaveUp || too_many {
                let reason = if outcome == Recorded::GaveUp {
                    format!(
                        "a delivery kept failing for {} s, the retry window",
                        settings.webhook_retry_for.as_secs()
                    )
                } else {
                    format!("{failures} deliveries failed in a row")
                };
                sqlx::query(
                    "UPDATE webhooks SET enabled = false, disabled_reason = $2, updated_at = now()
                     WHERE id = $1",
                )
                .bind(due.webhook_id)
                .bind(&reason)
                .execute(&mut *tx)
                .await?;
                let event = CloudEvent::new(
                    WEBHOOK_DISABLED,
                    due.org_id,
                    &due.webhook_id.to_string(),
                    serde_json::json!({
                        "webhookId": due.webhook_id,
                        "url": origin(&url),
                        "reason": reason,
                        "consecutiveFailures": failures,
                    }),
                );
                super::outbox::insert_event(&mut tx, settings, due.org_id, &event).await?;
                disabled = true;
            }
        }
    }
    tx.commit().await?;
    Ok((outcome, disabled))
}

/// The URL's scheme, host and port only: its path or query may hold a token, and
/// the `webhook.disabled` event reaches other subscribers.
fn origin(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}

/// Pending deliveries of enabled webhooks, and how long the oldest due one has
/// waited (seconds).
pub async fn backlog(pool: &PgPool) -> Result<(i64, f64), StoreError> {
    let (count, age): (i64, Option<f64>) = sqlx::query_as(
        "SELECT count(*), EXTRACT(EPOCH FROM now() - min(d.next_attempt_at))::float8
         FROM webhook_deliveries d JOIN webhooks w ON w.id = d.webhook_id
         WHERE d.status = 'pending' AND w.enabled",
    )
    .fetch_one(pool)
    .await?;
    Ok((count, age.unwrap_or(0.0).max(0.0)))
}

/// Removes finished deliveries older than the log's retention.
pub async fn prune(pool: &PgPool, retention: Duration) -> Result<u64, StoreError> {
    let done = sqlx::query(
        "DELETE FROM webhook_deliveries
         WHERE status <> 'pending' AND finished_at < now() - $1 * interval '1 millisecond'",
    )
    .bind(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX))
    .execute(pool)
    .await?;
    Ok(done.rows_affected())
}
