//! Schema snapshots in Redis: one key per datasource holding the snapshot as zstd
//! frames (see `framing`), and a hash beside it with its hash, version, time, format
//! and index. Both keys carry the organisation as a hash tag (`{org:…}`), so they
//! share a slot in a Redis Cluster and the scripts below run there as on one Redis.

pub mod connection;
pub mod framing;
mod part;
mod scripts;

use std::sync::Arc;
use std::time::Duration;

use redis::AsyncCommands;
use tokio::sync::Mutex;

use crate::config::Settings;
use crate::domain::snapshot::Snapshot;
use crate::domain::{DatasourceId, JobId, OrgId};
use connection::{Connection, Target};
pub use part::Part;

#[derive(Debug, thiserror::Error)]
pub enum CacheError {
    #[error("redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("stored snapshot: {0}")]
    Framing(#[from] framing::FramingError),
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

/// Metadata stored beside a snapshot.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SnapshotMeta {
    pub hash: String,
    pub version: i64,
    pub discovered_at: String,
    /// The length of the snapshot's JSON.
    pub bytes: usize,
}

/// A snapshot's bytes as Redis holds them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Body {
    /// Written before snapshots were compressed.
    Json(Vec<u8>),
    /// zstd frames that inflate to the JSON.
    Zstd(Vec<u8>),
}

impl Body {
    /// The JSON, inflating at most `limit` bytes (CPU work for a wide schema: call it
    /// off the async threads).
    pub fn into_json(self, limit: usize) -> Result<Vec<u8>, CacheError> {
        match self {
            Body::Json(b) => Ok(b),
            Body::Zstd(z) => Ok(framing::inflate(&z, limit)?),
        }
    }

    /// No format is plain JSON (written before snapshots were compressed); a format
    /// this onramp does not know (a newer one's) is refused, never served raw.
    fn from_format(bytes: Vec<u8>, format: Option<&str>) -> Result<Body, CacheError> {
        match format {
            None | Some("") => Ok(Body::Json(bytes)),
            Some(framing::FORMAT) => Ok(Body::Zstd(bytes)),
            Some(other) => {
                Err(framing::FramingError::UnknownFormat(other.chars().take(64).collect()).into())
            }
        }
    }
}

/// A snapshot read back: its body and metadata.
#[derive(Debug, Clone)]
pub struct Read {
    pub body: Body,
    pub meta: SnapshotMeta,
}

impl Read {
    /// The most its JSON may inflate to: what was recorded when it was written.
    pub fn limit(&self) -> usize {
        self.meta.bytes
    }
}

/// A Redis connection made on first use and re-made by the connection manager (or
/// the cluster client) after failures, so that onramp starts (and answers `/readyz`)
/// while Redis is down.
pub struct SnapshotStore {
    target: Target,
    prefix: String,
    timeout: Duration,
    conn: Mutex<Option<Connection>>,
}

impl SnapshotStore {
    pub fn new(settings: &Settings) -> Result<SnapshotStore, CacheError> {
        Ok(SnapshotStore {
            target: Target::from_settings(settings)?,
            prefix: settings.redis_prefix(),
            timeout: settings.cache_timeout,
            conn: Mutex::new(None),
        })
    }

    async fn conn(&self) -> Result<Connection, CacheError> {
        let mut slot = self.conn.lock().await;
        if let Some(c) = slot.as_ref() {
            return Ok(c.clone());
        }
        let c = self.target.connect(self.timeout).await?;
        *slot = Some(c.clone());
        Ok(c)
    }

    /// The snapshot's key and its metadata's, then (on one Redis) the keys of the
    /// layout before the hash tag, which are still read and are removed on the next
    /// write. A cluster never had them, and a script may not name keys of two slots.
    fn keys(&self, org_id: OrgId, datasource_id: DatasourceId) -> Vec<String> {
        let base = format!("{}{{org:{org_id}}}:datasource:{datasource_id}", self.prefix);
        let mut keys = vec![format!("{base}:snapshot"), format!("{base}:meta")];
        if !self.target.is_cluster() {
            let old = format!("{}org:{org_id}:datasource:{datasource_id}", self.prefix);
            keys.push(format!("{old}:snapshot"));
            keys.push(format!("{old}:meta"));
        }
        keys
    }

    /// Writes the snapshot of job `job_id` (sequence `seq`) and its metadata in one
    /// script, unless a job as new or newer wrote one already; with the snapshot it
    /// replaced when that one's hash differs.
    pub async fn put(
        &self,
        org_id: OrgId,
        datasource_id: DatasourceId,
        snapshot: Arc<Snapshot>,
        seq: i64,
        job_id: JobId,
    ) -> Result<(Put, Option<Body>), CacheError> {
        // Compressing megabytes is CPU work: off the async threads.
        let framed = {
            let snapshot = snapshot.clone();
            off_the_async_threads("framing the snapshot", move || {
                Ok(framing::frame(&snapshot)?)
            })
            .await?
        };
        let kind = snapshot.datasource_type.clone();
        metrics::histogram!("onramp_snapshot_bytes", "type" => kind.clone())
            .record(framed.json_bytes as f64);
        metrics::histogram!("onramp_snapshot_stored_bytes", "type" => kind)
            .record(framed.value.len() as f64);
        let mut conn = self.conn().await?;
        let mut script = scripts::PUT_IF_NEWER.prepare_invoke();
        for key in self.keys(org_id, datasource_id) {
            script.key(key);
        }
        let (code, by, replaced, format): (i64, String, Option<Vec<u8>>, String) = script
            .arg(&framed.value)
            .arg(seq)
            .arg(&snapshot.hash)
            .arg(snapshot.discovered_at.to_rfc3339())
            .arg(framed.json_bytes)
            .arg(job_id.to_string())
            .arg(framing::FORMAT)
            .arg(&framed.index)
            .arg(framed.value.len())
            .arg(framed.index_json_bytes)
            .invoke_async(&mut conn)
            .await?;
        let put = match code {
            -1 => Put::Superseded { by_job: by },
            -2 => Put::AlreadyStored,
            version => Put::Stored { version },
        };
        let replaced = match replaced {
            Some(b) => Some(Body::from_format(b, Some(format.as_str()))?),
            None => None,
        };
        Ok((put, replaced))
    }

    /// The whole snapshot as stored, and its metadata, read in one script.
    pub async fn get(
        &self,
        org_id: OrgId,
        datasource_id: DatasourceId,
    ) -> Result<Option<Read>, CacheError> {
        let mut conn = self.conn().await?;
        let mut script = scripts::GET.prepare_invoke();
        for key in self.keys(org_id, datasource_id) {
            script.key(key);
        }
        let found: Option<(Vec<u8>, Vec<Option<String>>)> = script.invoke_async(&mut conn).await?;
        let Some((value, fields)) = found else {
            return Ok(None);
        };
        let meta = meta_of(&fields, value.len());
        let format = fields.get(4).cloned().flatten();
        Ok(Some(Read {
            body: Body::from_format(value, format.as_deref())?,
            meta,
        }))
    }

    /// Part of the snapshot (one schema, one table) read from the frames that hold
    /// it; `None` when nothing is stored, `Some(None)` when the part is not in it.
    pub async fn get_part(
        &self,
        org_id: OrgId,
        datasource_id: DatasourceId,
        part: &Part,
    ) -> Result<Option<Option<Read>>, CacheError> {
        let keys = self.keys(org_id, datasource_id);
        // A write between reading the index and reading the frames it points at
        // would mix two snapshots: the frames are read only if the version is still
        // the index's, and the read is tried again otherwise.
        for _ in 0..3 {
            let mut conn = self.conn().await?;
            let fields: Vec<Option<String>> = conn
                .hmget(
                    &keys[1],
                    &[
                        "hash",
                        "version",
                        "discoveredAt",
                        "bytes",
                        "format",
                        "jobId",
                        "indexBytes",
                        "stored",
                    ],
                )
                .await?;
            let field = |i: usize| fields.get(i).cloned().flatten();
            // Nothing in this layout (perhaps in the one before it), or a snapshot
            // written as plain JSON: read whole and cut.
            if field(4).as_deref() != Some(framing::FORMAT) {
                let Some(whole) = self.get(org_id, datasource_id).await? else {
                    return Ok(None);
                };
                return Ok(Some(part::from_whole(whole, part).await?));
            }
            let meta = meta_of(&fields, 0);
            let number = |i: usize| field(i).and_then(|v| v.parse::<usize>().ok()).unwrap_or(0);
            let (index_bytes, stored) = (number(6), number(7));
            let index: Option<Vec<u8>> = conn.hget(&keys[1], "index").await?;
            let Some(index) = index else {
                continue;
            };
            let index = framing::read_index(&index, index_bytes, stored)?;
            let plan = part::plan(&index, part);
            if plan.is_empty() {
                return Ok(Some(None));
            }
            let mut script = scripts::GET_RANGES.prepare_invoke();
            script
                .key(&keys[0])
                .key(&keys[1])
                .arg(meta.version)
                .arg(field(5).unwrap_or_default());
            for (start, end) in plan.ranges() {
                // GETRANGE's end is inclusive; read_index checked that start < end.
                script.arg(start).arg(end - 1);
            }
            let frames: Option<Vec<Vec<u8>>> = script.invoke_async(&mut conn).await?;
            let Some(frames) = frames else {
                continue;
            };
            // A table's frames are inflated and parsed: CPU work, off the async threads.
            let (limit, part) = (meta.bytes, part.clone());
            let body = off_the_async_threads("assembling the part", move || {
                plan.assemble(&part, &index, frames, limit)
            })
            .await?;
            return Ok(Some(Some(Read {
                body: Body::Zstd(body),
                meta,
            })));
        }
        Err(CacheError::Redis(redis::RedisError::from((
            redis::ErrorKind::Client,
            "the snapshot was rewritten during each of three reads",
        ))))
    }

    pub async fn delete(
        &self,
        org_id: OrgId,
        datasource_id: DatasourceId,
    ) -> Result<(), CacheError> {
        let mut conn = self.conn().await?;
        let _: () = conn.del(self.keys(org_id, datasource_id)).await?;
        Ok(())
    }

    pub async fn ping(&self) -> Result<(), CacheError> {
        let mut conn = self.conn().await?;
        let _: String = redis::cmd("PING").query_async(&mut conn).await?;
        Ok(())
    }
}

/// Runs CPU work (compressing, inflating, parsing megabytes) on tokio's blocking
/// threads, so that the API and the other jobs keep theirs.
pub(crate) async fn off_the_async_threads<T: Send + 'static>(
    what: &'static str,
    work: impl FnOnce() -> Result<T, CacheError> + Send + 'static,
) -> Result<T, CacheError> {
    tokio::task::spawn_blocking(work).await.map_err(|e| {
        redis::RedisError::from((redis::ErrorKind::Client, what, format!("stopped: {e}")))
    })?
}

/// The metadata from HMGET's hash, version, discoveredAt and bytes (the value's own
/// length when an old write recorded none).
fn meta_of(fields: &[Option<String>], value_len: usize) -> SnapshotMeta {
    let field = |i: usize| fields.get(i).cloned().flatten();
    SnapshotMeta {
        hash: field(0).unwrap_or_default(),
        version: field(1).and_then(|v| v.parse().ok()).unwrap_or(0),
        discovered_at: field(2).unwrap_or_default(),
        bytes: field(3)
            .and_then(|v| v.parse().ok())
            .unwrap_or(value_len)
            .max(value_len),
    }
}
