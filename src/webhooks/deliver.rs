//! The deliverer: leases due deliveries, signs and POSTs each one, and records the
//! attempt. It wakes on the trigger's notification (a new delivery) or every second
//! (a retry coming due). Any number run, one per worker process: leases and
//! `FOR UPDATE SKIP LOCKED` keep them from sending the same delivery at once, and
//! the caps in `claim` keep one slow receiver from taking every slot.

use std::sync::Arc;
use std::time::{Duration, Instant};

use sqlx::PgPool;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::domain::webhooks::{delivered, signature_header};
use crate::egress::Egress;
use crate::egress::http::GuardedClient;
use crate::storage::crypto::SecretKey;
use crate::storage::outbox::Wakeups;
use crate::storage::webhooks::{self, Attempt, Due, Recorded, WEBHOOKS_CHANNEL};

/// A retry that comes due is sent within this.
const POLL: Duration = Duration::from_secs(1);

pub struct Deliverer {
    pub pool: PgPool,
    pub key: SecretKey,
    pub settings: Arc<Settings>,
    pub egress: Egress,
}

impl Deliverer {
    /// Delivers until `stop`; deliveries in flight then finish (each is bounded by
    /// `webhook_timeout_ms`), and an unfinished one is sent again after its lease.
    pub async fn run(self, stop: CancellationToken) {
        let client = match GuardedClient::without_redirects(
            self.egress.clone(),
            reqwest::Client::builder()
                .timeout(self.settings.webhook_timeout)
                .connect_timeout(self.settings.webhook_timeout)
                .user_agent(concat!("onramp-webhooks/", env!("CARGO_PKG_VERSION"))),
        ) {
            Ok(c) => Arc::new(c),
            Err(e) => {
                tracing::error!(error = %e.message, "webhook client could not be built; no webhooks are delivered");
                return;
            }
        };
        let slots = Arc::new(Semaphore::new(self.settings.webhook_concurrency));
        // Longer than any attempt, so a lease ends only when its deliverer is gone.
        let lease = self.settings.webhook_timeout + Duration::from_secs(10);
        let mut wakeups = Wakeups::on(WEBHOOKS_CHANNEL);
        let mut running = JoinSet::new();
        let this = Arc::new(self);
        while !stop.is_cancelled() {
            let free = slots.available_permits();
            let mut claimed = 0;
            if free > 0 {
                match webhooks::claim(&this.pool, &this.key, &this.settings, free as i64, lease)
                    .await
                {
                    Ok(due) => {
                        claimed = due.len();
                        for d in due {
                            let Ok(permit) = slots.clone().acquire_owned().await else {
                                return;
                            };
                            let (this, client) = (this.clone(), client.clone());
                            running.spawn(async move {
                                this.deliver(&client, d).await;
                                drop(permit);
                            });
                        }
                    }
                    Err(e) => tracing::warn!(error = %e, "could not claim webhook deliveries"),
                }
            }
            // Every slot filled: there may be more due at once.
            if free > 0 && claimed == free {
                continue;
            }
            tokio::select! {
                _ = wakeups.wait(&this.pool, POLL) => {}
                Some(_) = running.join_next(), if !running.is_empty() => {}
                _ = stop.cancelled() => {}
            }
        }
        while running.join_next().await.is_some() {}
    }

    async fn deliver(&self, client: &GuardedClient, due: Due) {
        let attempt = self.send(client, &due).await;
        let outcome = if attempt.delivered {
            "delivered"
        } else {
            "failed"
        };
        metrics::counter!("onramp_webhook_deliveries_total", "outcome" => outcome).increment(1);
        metrics::histogram!("onramp_webhook_delivery_duration_seconds")
            .record(attempt.duration.as_secs_f64());
        match webhooks::record(&self.pool, &self.settings, &due, &attempt).await {
            Ok((recorded, disabled)) => {
                if recorded == Recorded::GaveUp {
                    metrics::counter!("onramp_webhook_deliveries_total", "outcome" => "gave_up")
                        .increment(1);
                }
                if disabled {
                    metrics::counter!("onramp_webhooks_disabled_total").increment(1);
                    tracing::warn!(webhook_id = %due.webhook_id, "webhook disabled after failing deliveries");
                }
                tracing::debug!(
                    webhook_id = %due.webhook_id,
                    delivery_id = %due.id,
                    status = ?attempt.status,
                    recorded = ?recorded,
                    duration_ms = attempt.duration.as_millis() as u64,
                    "webhook delivery attempted"
                );
            }
            // The lease runs out and the delivery is sent again: at least once.
            Err(e) => {
                tracing::warn!(delivery_id = %due.id, error = %e, "could not record a webhook delivery")
            }
        }
    }

    /// One POST of the event in the CloudEvents structured mode, signed as the
    /// Standard Webhooks specification says.
    async fn send(&self, client: &GuardedClient, due: &Due) -> Attempt {
        let started = Instant::now();
        let failed = |status: Option<u16>, error: String| Attempt {
            status,
            duration: started.elapsed(),
            error: Some(error),
            delivered: false,
        };
        let body = match serde_json::to_vec(&due.event) {
            Ok(b) => b,
            Err(e) => return failed(None, format!("the event could not be encoded: {e}")),
        };
        let timestamp = chrono::Utc::now().timestamp();
        let secrets: Vec<_> = due.secrets.iter().collect();
        let signature = signature_header(&secrets, &due.event_id, timestamp, &body);
        let request = match client.request(reqwest::Method::POST, &due.url) {
            Ok(r) => r,
            Err(e) => return failed(None, e.message),
        };
        let request = request
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/cloudevents+json",
            )
            .header("webhook-id", &due.event_id)
            .header("webhook-timestamp", timestamp.to_string())
            .header("webhook-signature", signature)
            .body(body);
        match client.send(request).await {
            Ok(response) => {
                let status = response.status().as_u16();
                // The body is not read: nothing in it changes the outcome.
                drop(response);
                if delivered(status) {
                    Attempt {
                        status: Some(status),
                        duration: started.elapsed(),
                        error: None,
                        delivered: true,
                    }
                } else if (300..400).contains(&status) {
                    failed(
                        Some(status),
                        format!(
                            "the receiver answered {status}, a redirect; redirects are not followed"
                        ),
                    )
                } else {
                    failed(Some(status), format!("the receiver answered {status}"))
                }
            }
            Err(e) => failed(None, e.message),
        }
    }
}
