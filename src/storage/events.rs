//! The events kept for the organisation stream's replay (`events`, written by the
//! outbox's trigger). Rows are read in (transaction id, sequence) order, and only
//! from transactions older than every one still running: a transaction that took a
//! smaller sequence number but commits later is then read after the others, never
//! skipped by a reader that has moved past its number.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use serde_json::Value;
use sqlx::PgPool;

use super::StoreError;
use crate::domain::OrgId;

/// The channel the trigger notifies when an event is written.
pub const EVENTS_CHANNEL: &str = "onramp_events";

/// A position in the stream of all events: the SSE event id, `<txid>-<seq>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Cursor {
    pub txid: i64,
    pub seq: i64,
}

impl fmt::Display for Cursor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.txid, self.seq)
    }
}

impl FromStr for Cursor {
    type Err = ();

    fn from_str(text: &str) -> Result<Cursor, ()> {
        let (txid, seq) = text.trim().split_once('-').ok_or(())?;
        let parse = |t: &str| {
            t.parse::<i64>()
                .ok()
                .filter(|n| *n >= 0 && t.len() <= 19)
                .ok_or(())
        };
        Ok(Cursor {
            txid: parse(txid)?,
            seq: parse(seq)?,
        })
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredEvent {
    pub txid: i64,
    pub seq: i64,
    pub org_id: OrgId,
    #[sqlx(rename = "type")]
    pub event_type: String,
    pub event: Value,
}

impl StoredEvent {
    pub fn cursor(&self) -> Cursor {
        Cursor {
            txid: self.txid,
            seq: self.seq,
        }
    }
}

/// Rows every reader may take now: their transactions are all finished.
const SETTLED: &str = "txid < txid_snapshot_xmin(txid_current_snapshot())";

/// The position after the last settled event: where a new reader of live events starts.
pub async fn head(pool: &PgPool) -> Result<Cursor, StoreError> {
    let sql = format!(
        "SELECT txid, seq FROM events WHERE {SETTLED} ORDER BY txid DESC, seq DESC LIMIT 1"
    );
    let row: Option<(i64, i64)> = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .fetch_optional(pool)
        .await?;
    Ok(row
        .map(|(txid, seq)| Cursor { txid, seq })
        .unwrap_or_default())
}

/// Settled events of every organisation after `after`, in order (the fan-out's read).
pub async fn after(
    pool: &PgPool,
    after: Cursor,
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let sql = format!(
        "SELECT txid, seq, org_id, type, event FROM events
         WHERE (txid, seq) > ($1, $2) AND {SETTLED} ORDER BY txid, seq LIMIT $3"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(after.txid)
        .bind(after.seq)
        .bind(limit)
        .fetch_all(pool)
        .await?)
}

/// Settled events of one organisation after `after`, of the given types (all when
/// empty), in order: the replay after a reconnect.
pub async fn org_after(
    pool: &PgPool,
    org: OrgId,
    after: Cursor,
    types: &[String],
    limit: i64,
) -> Result<Vec<StoredEvent>, StoreError> {
    let sql = format!(
        "SELECT txid, seq, org_id, type, event FROM events
         WHERE org_id = $1 AND (txid, seq) > ($2, $3) AND {SETTLED}
           AND (cardinality($4::text[]) = 0 OR type = ANY($4))
         ORDER BY txid, seq LIMIT $5"
    );
    Ok(sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(org)
        .bind(after.txid)
        .bind(after.seq)
        .bind(types)
        .bind(limit)
        .fetch_all(pool)
        .await?)
}

/// Removes events older than the replay window.
pub async fn prune(pool: &PgPool, retention: Duration) -> Result<u64, StoreError> {
    let done =
        sqlx::query("DELETE FROM events WHERE created_at < now() - $1 * interval '1 millisecond'")
            .bind(i64::try_from(retention.as_millis()).unwrap_or(i64::MAX))
            .execute(pool)
            .await?;
    Ok(done.rows_affected())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_order_by_transaction_first() {
        let c: Cursor = "769-12".parse().unwrap();
        assert_eq!(c, Cursor { txid: 769, seq: 12 });
        assert_eq!(c.to_string(), "769-12");
        assert!(Cursor { txid: 770, seq: 1 } > c);
        for bad in ["", "7", "a-1", "-1-2", "1-99999999999999999999", "1-2-3"] {
            assert!(bad.parse::<Cursor>().is_err(), "{bad}");
        }
    }
}
