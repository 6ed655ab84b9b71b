//! Schema drift at the end of a job: the new snapshot against the one its write
//! replaced, and the `datasource.schema_changed` event that announces the diff.

use serde_json::json;

use crate::domain::events::{CloudEvent, DATASOURCE_SCHEMA_CHANGED};
use crate::domain::schema_diff::{self, SchemaDiff};
use crate::domain::snapshot::Snapshot;
use crate::storage::jobs::JobRow;
use crate::storage::snapshots::Body;

/// The most changes an event carries; the whole diff is behind its link.
const EVENT_MAX_CHANGES: usize = 50;

/// The most a replaced snapshot may inflate to (ten times the 45 MB of the 20,000-table
/// reference workload).
const OLD_SNAPSHOT_LIMIT: usize = 512 << 20;

/// What changed, given the snapshot the write replaced (Redis hands it back only
/// when its hash differed). `None` when nothing did, or the old one cannot be read
/// (written by a version of onramp whose format this one does not know).
pub async fn changes(replaced: Option<Body>, snapshot: &Snapshot) -> Option<SchemaDiff> {
    let body = replaced?;
    // Inflating and parsing a wide schema's megabytes is CPU work: off the async
    // threads. onramp wrote the old one, but what Redis returns is still bounded.
    let limit = OLD_SNAPSHOT_LIMIT;
    let old = tokio::task::spawn_blocking(move || {
        let json = body.into_json(limit).ok()?;
        serde_json::from_slice::<Snapshot>(&json).ok()
    })
    .await
    .ok()??;
    let diff = schema_diff::diff(&old, snapshot);
    (!diff.changes.is_empty()).then_some(diff)
}

/// The event: the summary and the first changes, with the link to the whole diff.
pub fn event(job: &JobRow, datasource_type: &str, diff: &SchemaDiff) -> CloudEvent {
    let name: String =
        url::form_urlencoded::byte_serialize(job.datasource_name.as_bytes()).collect();
    let shown: Vec<_> = diff.changes.iter().take(EVENT_MAX_CHANGES).collect();
    CloudEvent::new(
        DATASOURCE_SCHEMA_CHANGED,
        job.org_id,
        &job.datasource_name,
        json!({
            "jobId": job.id,
            "datasourceId": job.datasource_id,
            "datasourceName": job.datasource_name,
            "datasourceType": datasource_type,
            "fromHash": diff.from_hash,
            "toHash": diff.to_hash,
            "summary": diff.summary,
            "changes": shown,
            "truncated": diff.changes.len() > EVENT_MAX_CHANGES,
            "links": {"changes": format!("/api/v2/datasource/{}/schema/changes", name.replace('+', "%20"))},
        }),
    )
    .identified_by(&[&job.id.to_string()])
}
