//! How far a discovery has got: relations read of relations known. A connector
//! reports through the task-local counters the worker scopes its discovery with
//! (`scope`); outside a scope the reports go nowhere. The worker reads them on a
//! timer, so the rate of progress events is the worker's to bound, never the
//! connector's or the target's.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

#[derive(Debug, Default)]
pub struct DiscoveryProgress {
    total: AtomicUsize,
    done: AtomicUsize,
}

impl DiscoveryProgress {
    /// (relations done, relations known); a total of 0 is not known yet.
    pub fn read(&self) -> (usize, usize) {
        let total = self.total.load(Ordering::Relaxed);
        let done = self.done.load(Ordering::Relaxed);
        // A connector may read a relation it did not count (a catalog that changed
        // between its queries): never more done than known.
        (if total > 0 { done.min(total) } else { done }, total)
    }
}

tokio::task_local! {
    static CURRENT: Arc<DiscoveryProgress>;
}

/// Runs `work` with `progress` as the counters its reports go to.
pub async fn scope<F: std::future::Future>(progress: Arc<DiscoveryProgress>, work: F) -> F::Output {
    CURRENT.scope(progress, work).await
}

/// The relations this discovery will read, once known.
pub fn relations_total(n: usize) {
    let _ = CURRENT.try_with(|p| p.total.store(n, Ordering::Relaxed));
}

/// `n` more relations read in full.
pub fn relations_done(n: usize) {
    let _ = CURRENT.try_with(|p| p.done.fetch_add(n, Ordering::Relaxed));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reports_reach_the_scope_they_are_made_in_and_go_nowhere_outside_one() {
        relations_total(5);
        let progress = Arc::new(DiscoveryProgress::default());
        scope(progress.clone(), async {
            relations_total(10);
            relations_done(3);
            tokio::task::yield_now().await;
            relations_done(1);
        })
        .await;
        assert_eq!(progress.read(), (4, 10));
    }
}
