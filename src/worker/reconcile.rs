//! The reconciler: every job ends. A job whose message was lost (a broker that lost
//! an unreplicated queue, an operator who purged it) would otherwise stay queued or
//! running for ever; every `reconcile_interval_ms` one process (a PostgreSQL advisory
//! lock decides which) sends such jobs again, and the workers' usual rules take it
//! from there: a claim, a takeover count, a final outcome.

use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::config::Settings;
use crate::storage::jobs;

pub async fn run(pool: PgPool, settings: std::sync::Arc<Settings>, stop: CancellationToken) {
    let every = settings.reconcile_interval;
    let after = settings.reconcile_after;
    loop {
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.cancelled() => return,
        }
        match jobs::reconcile(&pool, &settings, after).await {
            Ok(Some(0)) | Ok(None) => {}
            Ok(Some(n)) => {
                metrics::counter!("onramp_jobs_reconciled_total").increment(n);
                tracing::warn!(jobs = n, "reconciler sent stranded jobs again");
            }
            Err(e) => tracing::warn!(error = %e, "reconciler could not sweep; trying again later"),
        }
        // The stream's replay window and the webhooks' delivery log are kept only so
        // long; any process may prune (deleting the same old rows twice is harmless).
        if let Err(e) = crate::storage::events::prune(&pool, settings.event_retention).await {
            tracing::warn!(error = %e, "could not remove events past the replay window");
        }
        if let Err(e) = crate::storage::webhooks::prune(&pool, settings.webhook_log_retention).await
        {
            tracing::warn!(error = %e, "could not remove old webhook deliveries");
        }
    }
}
