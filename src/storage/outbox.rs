//! The outbox: messages written in the same transaction as the state they announce,
//! published by the relay, deleted only once the broker confirmed them.

use crate::domain::{JobId, OrgId};
use serde_json::Value;
use sqlx::PgConnection;

use super::{OUTBOX_CHANNEL, StoreError};
use crate::config::Settings;
use crate::domain::JOB_ROUTING_KEY;
use crate::domain::JobMessage;
use crate::domain::events::CloudEvent;

#[derive(Debug, Clone)]
pub struct OutboxRow {
    pub id: i64,
    pub exchange: String,
    pub routing_key: String,
    pub payload: Value,
    pub headers: Value,
}

/// Writes one message; a job's (`job`) is gated: published when its organisation and
/// its target have room (`claim`).
async fn insert(
    conn: &mut PgConnection,
    exchange: &str,
    routing_key: &str,
    payload: &Value,
    headers: &Value,
    job: Option<JobId>,
) -> Result<(), StoreError> {
    sqlx::query(
        "INSERT INTO outbox (exchange, routing_key, payload, headers, job_id, gated)
         VALUES ($1, $2, $3, $4, $5, $5 IS NOT NULL)",
    )
    .bind(exchange)
    .bind(routing_key)
    .bind(payload)
    .bind(headers)
    .bind(job)
    .execute(&mut *conn)
    .await?;
    // Delivered at commit: wakes the relay at once instead of at its next poll.
    sqlx::query("SELECT pg_notify($1, '')")
        .bind(OUTBOX_CHANNEL)
        .execute(&mut *conn)
        .await?;
    Ok(())
}

pub async fn insert_job(
    conn: &mut PgConnection,
    settings: &Settings,
    message: &JobMessage,
    trace_parent: Option<&str>,
) -> Result<(), StoreError> {
    let headers = match trace_parent {
        Some(tp) => serde_json::json!({"traceparent": tp}),
        None => serde_json::json!({}),
    };
    let payload = serde_json::to_value(message).expect("job message serialises");
    insert(
        conn,
        &settings.jobs_exchange(),
        JOB_ROUTING_KEY,
        &payload,
        &headers,
        Some(message.job_id),
    )
    .await
}

pub async fn insert_event(
    conn: &mut PgConnection,
    settings: &Settings,
    org_id: OrgId,
    event: &CloudEvent,
) -> Result<(), StoreError> {
    let payload = serde_json::to_value(event).expect("event serialises");
    insert(
        conn,
        &settings.events_exchange(),
        &event.routing_key(org_id),
        &payload,
        &serde_json::json!({}),
        None,
    )
    .await
}

/// Rows claimed by one relay for publishing: locked (`FOR UPDATE SKIP LOCKED`) until
/// the batch is committed, so any number of relays can run.
pub struct Claimed {
    tx: sqlx::Transaction<'static, sqlx::Postgres>,
    pub rows: Vec<OutboxRow>,
    /// How often each row (by position) failed to publish on its own before.
    pub attempts: Vec<i32>,
}

/// How many jobs may be dispatched and unfinished at once.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub per_org: i64,
    pub per_target: i64,
}

/// A row of `IN_FLIGHT_AND_WAITING`.
#[derive(sqlx::FromRow)]
struct Counted {
    waiting: bool,
    id: i64,
    org_id: Option<OrgId>,
    target: Option<String>,
    n: i64,
    moot: bool,
}

/// In one statement, so that both halves see the same moment (a relay that publishes
/// between two statements would be counted in neither): the jobs dispatched and not
/// finished, by organisation and target (`waiting` false; a running job counts even if
/// its dispatch was never recorded, as when a relay died between the broker's confirm
/// and its commit), then the job messages waiting, oldest first (`waiting` true): no
/// more than `per_org` of each organisation (no more could go out now), and those
/// whose job is gone or finished (`moot`: nothing to wait for). A test job's target
/// is read from its inputs: it has no datasource.
const IN_FLIGHT_AND_WAITING: &str = "
WITH in_flight AS (
  SELECT j.org_id, onramp_target(coalesce(d.public_config, t.public_config)) AS target, count(*) AS n
    FROM jobs j LEFT JOIN datasources d ON d.id = j.datasource_id
    LEFT JOIN test_inputs t ON t.datasource_id = j.datasource_id
   WHERE (j.dispatched_at IS NOT NULL AND j.status = 'queued') OR j.status = 'running'
   GROUP BY 1, 2
), waiting AS (
  SELECT id, org_id, target, moot FROM (
    SELECT o.id, j.org_id, onramp_target(coalesce(d.public_config, t.public_config)) AS target,
           j.id IS NULL OR j.status NOT IN ('queued', 'running') AS moot,
           row_number() OVER (PARTITION BY j.org_id ORDER BY o.id) AS rn
      FROM outbox o
      LEFT JOIN jobs j ON j.id = o.job_id
      LEFT JOIN datasources d ON d.id = j.datasource_id
      LEFT JOIN test_inputs t ON t.datasource_id = j.datasource_id
     WHERE o.gated
  ) AS w
  WHERE moot OR rn <= $1
)
SELECT false AS waiting, 0::bigint AS id, org_id, target, n, false AS moot FROM in_flight
UNION ALL
SELECT true, id, org_id, target, 0, moot FROM waiting
ORDER BY 1, 2";

/// Which waiting job messages go out now: in order, each whose organisation and
/// target both have room, counting the ones already let through. A message held back
/// by a full host takes no room of its organisation's, nor the other way round.
fn admit(
    waiting: Vec<(i64, Option<OrgId>, Option<String>, bool)>,
    in_flight: Vec<(Option<OrgId>, Option<String>, i64)>,
    limits: Limits,
) -> Vec<i64> {
    use std::collections::HashMap;
    let mut per_org: HashMap<Option<OrgId>, i64> = HashMap::new();
    let mut per_target: HashMap<String, i64> = HashMap::new();
    for (org, target, n) in in_flight {
        *per_org.entry(org).or_default() += n;
        if let Some(t) = target {
            *per_target.entry(t).or_default() += n;
        }
    }
    let mut admitted = Vec::new();
    for (id, org, target, moot) in waiting {
        if moot {
            admitted.push(id);
            continue;
        }
        let org_n = per_org.get(&org).copied().unwrap_or(0);
        let target_n = target
            .as_ref()
            .and_then(|t| per_target.get(t).copied())
            .unwrap_or(0);
        if org_n < limits.per_org && target_n < limits.per_target {
            *per_org.entry(org).or_default() += 1;
            if let Some(t) = target {
                *per_target.entry(t).or_default() += 1;
            }
            admitted.push(id);
        }
    }
    admitted
}

pub async fn claim(pool: &sqlx::PgPool, limit: i64, limits: Limits) -> Result<Claimed, StoreError> {
    let mut tx = pool.begin().await?;
    let mut eligible: Vec<i64> =
        sqlx::query_scalar("SELECT id FROM outbox WHERE NOT gated ORDER BY id LIMIT $1")
            .bind(limit)
            .fetch_all(&mut *tx)
            .await?;
    let counted: Vec<Counted> = sqlx::query_as(IN_FLIGHT_AND_WAITING)
        .bind(limits.per_org)
        .fetch_all(&mut *tx)
        .await?;
    let (mut in_flight, mut waiting) = (Vec::new(), Vec::new());
    for c in counted {
        if c.waiting {
            waiting.push((c.id, c.org_id, c.target, c.moot));
        } else {
            in_flight.push((c.org_id, c.target, c.n));
        }
    }
    eligible.extend(admit(waiting, in_flight, limits));
    let found: Vec<(i64, String, String, Value, Value, i32)> = sqlx::query_as(
        "SELECT id, exchange, routing_key, payload, headers, attempts FROM outbox
          WHERE id = ANY($1) ORDER BY id LIMIT $2 FOR UPDATE SKIP LOCKED",
    )
    .bind(&eligible)
    .bind(limit)
    .fetch_all(&mut *tx)
    .await?;
    let mut rows = Vec::with_capacity(found.len());
    let mut attempts = Vec::with_capacity(found.len());
    for (id, exchange, routing_key, payload, headers, tries) in found {
        rows.push(OutboxRow {
            id,
            exchange,
            routing_key,
            payload,
            headers,
        });
        attempts.push(tries);
    }
    Ok(Claimed { tx, rows, attempts })
}

impl Claimed {
    /// Forgets rows the broker confirmed; their jobs count as dispatched from now.
    pub async fn published(&mut self, ids: &[i64]) -> Result<(), StoreError> {
        sqlx::query(
            "WITH gone AS (DELETE FROM outbox WHERE id = ANY($1) RETURNING job_id)
             UPDATE jobs SET dispatched_at = coalesce(dispatched_at, now()), updated_at = now()
              WHERE id IN (SELECT job_id FROM gone WHERE job_id IS NOT NULL)",
        )
        .bind(ids)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Counts a failed publish of one row alone.
    pub async fn failed_once(&mut self, id: i64) -> Result<(), StoreError> {
        sqlx::query("UPDATE outbox SET attempts = attempts + 1 WHERE id = $1")
            .bind(id)
            .execute(&mut *self.tx)
            .await?;
        Ok(())
    }

    /// Moves a row the broker will not take to `outbox_rejected`, with why.
    pub async fn set_aside(&mut self, id: i64, reason: &str) -> Result<(), StoreError> {
        sqlx::query(
            "WITH gone AS (DELETE FROM outbox WHERE id = $1 RETURNING *)
             INSERT INTO outbox_rejected (id, exchange, routing_key, payload, headers, created_at, reason)
             SELECT id, exchange, routing_key, payload, headers, created_at, $2 FROM gone",
        )
        .bind(id)
        .bind(reason)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    /// Fails a job whose message was set aside: it can never reach a worker.
    pub async fn fail_job(&mut self, job_id: JobId) -> Result<(), StoreError> {
        let error = serde_json::json!({"code": "INTERNAL_SERVER_ERROR",
            "message": "the job's message could not be published to the broker and was set aside",
            "hint": "a sync queues the job again; the operator's log and outbox_rejected have the reason"});
        sqlx::query(
            "WITH failed AS (UPDATE jobs SET status = 'failed', error = $2, finished_at = now(), updated_at = now()
               WHERE id = $1 AND status IN ('queued', 'running') RETURNING datasource_id)
             UPDATE datasources SET status = 'failed', updated_at = now() WHERE id IN (SELECT datasource_id FROM failed)",
        )
        .bind(job_id)
        .bind(error)
        .execute(&mut *self.tx)
        .await?;
        Ok(())
    }

    pub async fn commit(self) -> Result<(), StoreError> {
        self.tx.commit().await?;
        Ok(())
    }
}

/// How many rows wait, and how old the oldest is (seconds), for metrics.
pub async fn backlog(pool: &sqlx::PgPool) -> Result<(i64, f64), StoreError> {
    let (count, age): (i64, Option<f64>) = sqlx::query_as(
        "SELECT count(*), EXTRACT(EPOCH FROM now() - min(created_at))::float8 FROM outbox",
    )
    .fetch_one(pool)
    .await?;
    Ok((count, age.unwrap_or(0.0)))
}

/// Wakes the relay when a row is written (LISTEN on the outbox channel), or after
/// `poll` at the latest: a notification can be missed while reconnecting.
pub struct Wakeups {
    channel: &'static str,
    listener: Option<sqlx::postgres::PgListener>,
}

impl Default for Wakeups {
    fn default() -> Wakeups {
        Wakeups::on(OUTBOX_CHANNEL)
    }
}

impl Wakeups {
    /// Wakes on notifications of `channel` instead of the outbox's.
    pub fn on(channel: &'static str) -> Wakeups {
        Wakeups {
            channel,
            listener: None,
        }
    }

    /// Waits for a write or for `poll`; a broken listener is dropped and opened
    /// again on the next wait.
    pub async fn wait(&mut self, pool: &sqlx::PgPool, poll: std::time::Duration) {
        if self.listener.is_none() {
            self.listener = match sqlx::postgres::PgListener::connect_with(pool).await {
                Ok(mut l) => match l.listen(self.channel).await {
                    Ok(()) => Some(l),
                    Err(_) => None,
                },
                Err(_) => None,
            };
        }
        let healthy = match self.listener.as_mut() {
            Some(l) => match tokio::time::timeout(poll, l.recv()).await {
                Ok(Ok(_)) | Err(_) => true,
                Ok(Err(_)) => false,
            },
            None => {
                tokio::time::sleep(poll).await;
                true
            }
        };
        if !healthy {
            self.listener = None;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_host_takes_no_room_of_its_organisation_and_a_full_organisation_none_of_a_host() {
        let (a, b) = (Some(OrgId::generate()), Some(OrgId::generate()));
        let x = Some("x.example".to_string());
        let y = Some("y.example".to_string());
        let limits = Limits {
            per_org: 3,
            per_target: 2,
        };
        // A has 1 job running on x; x has room for one more.
        let in_flight = vec![(a, x.clone(), 1)];
        let waiting = vec![
            (1, a, x.clone(), false), // A on x: admitted (x now full)
            (2, a, x.clone(), false), // x full: held
            (3, a, x.clone(), false), // held
            (4, a, y.clone(), false), // A has room (2 of 3): admitted
            (5, b, x.clone(), false), // x full: held, B's room untouched
            (6, b, y.clone(), false), // B on y: admitted
            (7, a, y.clone(), false), // A full (3 of 3): held
            (8, None, None, true),    // a finished job's message: always out
        ];
        assert_eq!(admit(waiting, in_flight, limits), vec![1, 4, 6, 8]);
    }
}
