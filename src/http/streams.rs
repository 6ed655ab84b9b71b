//! Long-lived answers (Server-Sent Events, `?wait`): bounded per organisation and in
//! duration, ended when their token is revoked, and fed by one poller per process
//! rather than one query loop per client, so their cost does not grow with the
//! number of clients watching.

use crate::domain::JobId;
use crate::domain::OrgId;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::watch;

use super::error::ApiError;
use crate::domain::ErrorCode;

/// How often the poller looks at the jobs being watched.
const JOB_POLL: Duration = Duration::from_millis(150);
/// How often it looks for revoked tokens among those holding streams: a revoked
/// token's streams end within this bound.
const TOKEN_POLL: Duration = Duration::from_secs(1);

type Changes = HashMap<
    JobId,
    (
        watch::Sender<u64>,
        usize,
        Option<chrono::DateTime<chrono::Utc>>,
    ),
>;

#[derive(Default)]
struct Watched {
    /// Per job: a counter bumped on every change, its watchers, the last change seen.
    jobs: Changes,
    /// Per token hash: revoked yet, and how many streams hold it.
    tokens: HashMap<Vec<u8>, (watch::Sender<bool>, usize)>,
    /// Open streams per organisation.
    per_org: HashMap<OrgId, usize>,
}

pub struct Streams {
    pool: PgPool,
    limit_per_org: usize,
    pub max_duration: Duration,
    watched: Mutex<Watched>,
    poller: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

/// One open stream: counted against its organisation until dropped.
pub struct Permit {
    streams: Arc<Streams>,
    org: OrgId,
    token: Vec<u8>,
    /// Becomes true when the stream's token is revoked.
    pub revoked: watch::Receiver<bool>,
}

/// Changes of one job, for as long as it is held.
pub struct JobWatch {
    streams: Arc<Streams>,
    job: JobId,
    pub changes: watch::Receiver<u64>,
}

impl Streams {
    pub fn new(pool: PgPool, limit_per_org: usize, max_duration: Duration) -> Arc<Streams> {
        Arc::new(Streams {
            pool,
            limit_per_org,
            max_duration,
            watched: Mutex::default(),
            poller: Mutex::new(None),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Watched> {
        self.watched.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A stream for `org` held by the token with this hash, or 429 when the
    /// organisation holds its limit of streams already.
    pub fn open(self: &Arc<Self>, org: OrgId, token: Vec<u8>) -> Result<Permit, ApiError> {
        let mut w = self.lock();
        let open = w.per_org.entry(org).or_default();
        if *open >= self.limit_per_org {
            return Err(ApiError::new(
                ErrorCode::TooManyRequests,
                format!(
                    "this organisation holds {} open streams and waits, the most it may",
                    self.limit_per_org
                ),
            )
            .with_hint("close a stream or poll the job instead; the limit is streams_per_org"));
        }
        *open += 1;
        let entry = w
            .tokens
            .entry(token.clone())
            .or_insert_with(|| (watch::channel(false).0, 0));
        entry.1 += 1;
        let revoked = entry.0.subscribe();
        drop(w);
        self.ensure_poller();
        metrics::gauge!("onramp_streams_open").increment(1.0);
        Ok(Permit {
            streams: self.clone(),
            org,
            token,
            revoked,
        })
    }

    /// Changes of `job` as the poller sees them.
    pub fn watch(self: &Arc<Self>, job: JobId) -> JobWatch {
        let mut w = self.lock();
        let entry = w
            .jobs
            .entry(job)
            .or_insert_with(|| (watch::channel(0).0, 0, None));
        entry.1 += 1;
        let changes = entry.0.subscribe();
        drop(w);
        self.ensure_poller();
        JobWatch {
            streams: self.clone(),
            job,
            changes,
        }
    }

    fn ensure_poller(self: &Arc<Self>) {
        let mut poller = self.poller.lock().unwrap_or_else(|p| p.into_inner());
        if poller.as_ref().is_some_and(|p| !p.is_finished()) {
            return;
        }
        let streams = Arc::downgrade(self);
        *poller = Some(tokio::spawn(async move {
            let mut since_tokens = Duration::ZERO;
            loop {
                tokio::time::sleep(JOB_POLL).await;
                let Some(streams) = streams.upgrade() else {
                    return;
                };
                streams.poll_jobs().await;
                since_tokens += JOB_POLL;
                if since_tokens >= TOKEN_POLL {
                    since_tokens = Duration::ZERO;
                    streams.poll_tokens().await;
                }
            }
        }));
    }

    /// One query for every job watched in this process.
    async fn poll_jobs(&self) {
        let ids: Vec<JobId> = self.lock().jobs.keys().copied().collect();
        if ids.is_empty() {
            return;
        }
        metrics::counter!("onramp_stream_poller_queries_total").increment(1);
        let Ok(rows) = crate::storage::jobs::changed(&self.pool, &ids).await else {
            // A passing storage fault: the streams stay open and the next poll looks again.
            return;
        };
        let mut w = self.lock();
        for (id, updated) in rows {
            if let Some((tx, _, last)) = w.jobs.get_mut(&id)
                && *last != Some(updated)
            {
                *last = Some(updated);
                tx.send_modify(|n| *n += 1);
            }
        }
    }

    async fn poll_tokens(&self) {
        let hashes: Vec<Vec<u8>> = self.lock().tokens.keys().cloned().collect();
        if hashes.is_empty() {
            return;
        }
        let Ok(revoked) = crate::storage::tokens::revoked_among(&self.pool, &hashes).await else {
            return;
        };
        let w = self.lock();
        for hash in revoked {
            if let Some((tx, _)) = w.tokens.get(&hash) {
                let _ = tx.send(true);
            }
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut w = self.streams.lock();
        if let Some(n) = w.per_org.get_mut(&self.org) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                w.per_org.remove(&self.org);
            }
        }
        if let Some((_, n)) = w.tokens.get_mut(&self.token) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                w.tokens.remove(&self.token);
            }
        }
        metrics::gauge!("onramp_streams_open").decrement(1.0);
    }
}

impl Drop for JobWatch {
    fn drop(&mut self) {
        let mut w = self.streams.lock();
        if let Some((_, n, _)) = w.jobs.get_mut(&self.job) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                w.jobs.remove(&self.job);
            }
        }
    }
}

impl Permit {
    /// Resolves when the token is revoked.
    pub async fn revoked(&mut self) {
        while !*self.revoked.borrow() {
            if self.revoked.changed().await.is_err() {
                // The poller is gone with the process; never resolves on its own.
                std::future::pending::<()>().await;
            }
        }
    }
}

impl JobWatch {
    /// Resolves at the job's next change (or after `at_most`, to look again anyway).
    pub async fn changed(&mut self, at_most: Duration) {
        let _ = tokio::time::timeout(at_most, self.changes.changed()).await;
    }
}
