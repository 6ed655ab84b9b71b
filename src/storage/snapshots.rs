//! Schema snapshots in Redis: one key per datasource, namespaced by organisation,
//! with the hash, version and time in a hash beside it.

use crate::domain::{DatasourceId, JobId, OrgId};
use std::time::Duration;

use redis::AsyncCommands;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::Mutex;

use crate::config::Settings;
use crate::domain::snapshot::Snapshot;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
}

/// What became of a snapshot write.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Put {
    Stored {
        version: i64,
    },
    /// A newer job's snapshot is stored already; this one was not written.
    Superseded {
        by_job: String,
    },
    /// This job's snapshot is stored already (an earlier run of the same job).
    AlreadyStored,
    /// Not written: a newer job of the datasource was recorded after this one.
    NotLatest,
}

/// The compare-and-set: written only when no job with this sequence number or a
/// higher one has written its snapshot for this datasource. A write that replaces a
/// snapshot of another hash answers with the one it replaced, read in the same
/// script: the schema's changes are those against exactly what this write replaced.
const PUT_IF_NEWER: &str = r"
local stored = tonumber(redis.call('HGET', KEYS[2], 'seq') or '-1')
local seq = tonumber(ARGV[2])
if stored > seq then
  return {-1, redis.call('HGET', KEYS[2], 'jobId') or '', false}
end
if stored == seq then
  return {-2, '', false}
end
local replaced = false
local hash = redis.call('HGET', KEYS[2], 'hash')
if hash and hash ~= ARGV[3] then
  replaced = redis.call('GET', KEYS[1])
end
redis.call('SET', KEYS[1], ARGV[1])
local version = redis.call('HINCRBY', KEYS[2], 'version', 1)
redis.call('HSET', KEYS[2], 'hash', ARGV[3], 'discoveredAt', ARGV[4], 'bytes', ARGV[5], 'seq', ARGV[2], 'jobId', ARGV[6])
return {version, '', replaced}
";

/// Metadata stored beside a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotMeta {
    pub hash: String,
    pub version: i64,
    pub discovered_at: String,
    pub bytes: usize,
}

/// A Redis connection made on first use and re-made by the connection manager after
/// failures, so that onramp starts (and answers `/readyz`) while Redis is down.
pub struct SnapshotStore {
    client: redis::Client,
    prefix: String,
    timeout: Duration,
    conn: Mutex<Option<ConnectionManager>>,
}

impl SnapshotStore {
    pub fn new(settings: &Settings) -> Result<SnapshotStore, CacheError> {
        Ok(SnapshotStore {
            client: redis::Client::open(settings.redis_url.expose())?,
            prefix: settings.redis_prefix(),
            timeout: settings.cache_timeout,
            conn: Mutex::new(None),
        })
    }

    async fn conn(&self) -> Result<ConnectionManager, CacheError> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.timeout))
            .set_response_timeout(Some(self.timeout))
            .set_number_of_retries(2)
            .set_max_delay(Duration::from_millis(500));
        let c = ConnectionManager::new_with_config(self.client.clone(), config).await?;
        *slot = Some(c.clone());
        Ok(c)
    }

    pub fn snapshot_key(&self, org_id: OrgId, datasource_id: DatasourceId) -> String {
        format!(
            "{}org:{org_id}:datasource:{datasource_id}:snapshot",
            self.prefix
        )
    }

    fn meta_key(&self, org_id: OrgId, datasource_id: DatasourceId) -> String {
        format!(
            "{}org:{org_id}:datasource:{datasource_id}:meta",
            self.prefix
        )
    }

    /// Writes the snapshot of job `job_id` (sequence `seq`) and its metadata in one
    /// script, unless a job as new or newer wrote one already; with the snapshot it
    /// replaced when that one's hash differs (the raw JSON).
    pub async fn put(
        &self,
        org_id: OrgId,
        datasource_id: DatasourceId,
        snapshot: &Snapshot,
        seq: i64,
        job_id: JobId,
    ) -> Result<(Put, Option<Vec<u8>>), CacheError> {
        let body = serde_json::to_vec(snapshot).unwrap_or_default();
        metrics::histogram!("onramp_snapshot_bytes", "type" => snapshot.datasource_type.clone())
            .record(body.len() as f64);
        let mut conn = self.conn().await?;
        let (code, by, replaced): (i64, String, Option<Vec<u8>>) = redis::Script::new(PUT_IF_NEWER)
            .key(self.snapshot_key(org_id, datasource_id))
            .key(self.meta_key(org_id, datasource_id))
            .arg(&body)
            .arg(seq)
            .arg(&snapshot.hash)
            .arg(snapshot.discovered_at.to_rfc3339())
            .arg(body.len())
            .arg(job_id.to_string())
            .invoke_async(&mut conn)
            .await?;
        let put = match code {
            -1 => Put::Superseded { by_job: by },
            -2 => Put::AlreadyStored,
            version => Put::Stored { version },
        };
        Ok((put, replaced))
    }

    /// The raw snapshot JSON and its metadata.
    pub async fn get(
        &self,
        org_id: OrgId,
        datasource_id: DatasourceId,
    ) -> Result<Option<(Vec<u8>, SnapshotMeta)>, CacheError> {
        let mut conn = self.conn().await?;
        let (body, meta): (Option<Vec<u8>>, std::collections::HashMap<String, String>) =
            redis::pipe()
                .get(self.snapshot_key(org_id, datasource_id))
                .hgetall(self.meta_key(org_id, datasource_id))
                .query_async(&mut conn)
                .await?;
        Ok(body.map(|b| {
            let meta = SnapshotMeta {
                hash: meta.get("hash").cloned().unwrap_or_default(),
                version: meta
                    .get("version")
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(0),
                discovered_at: meta.get("discoveredAt").cloned().unwrap_or_default(),
                bytes: b.len(),
            };
            (b, meta)
        }))
    }

    pub async fn delete(
        &self,
        org_id: OrgId,
        datasource_id: DatasourceId,
    ) -> Result<(), CacheError> {
        let mut conn = self.conn().await?;
        let _: () = conn
            .del(&[
                self.snapshot_key(org_id, datasource_id),
                self.meta_key(org_id, datasource_id),
            ])
            .await?;
        Ok(())
    }

    pub async fn ping(&self) -> Result<(), CacheError> {
        let mut conn = self.conn().await?;
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }
}
