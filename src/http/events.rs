//! `GET /api/v2/events`: every event of the caller's organisation as Server-Sent
//! Events, optionally of some types only. One reader per process (the feed) takes
//! new events from PostgreSQL and hands them to every stream, so the database's load
//! does not grow with the number of clients; a client that reconnects with
//! `Last-Event-ID`, or falls behind the feed, reads what it missed from the table,
//! which keeps events for `event_retention_seconds`.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde::Deserialize;
use sqlx::PgPool;
use tokio::sync::broadcast;

use super::AppState;
use super::auth::Org;
use super::error::ApiError;
use super::request::ApiQuery;
use crate::domain::webhooks::EVENT_TYPES;
use crate::domain::{FieldProblem, OrgId};
use crate::storage::events::{self, Cursor, EVENTS_CHANNEL, StoredEvent};
use crate::storage::outbox::Wakeups;

/// How often the feed looks for events a notification did not announce (one
/// committed while an older transaction was still running becomes readable later).
const FEED_POLL: Duration = Duration::from_millis(250);
const FEED_BATCH: i64 = 500;
/// Events held for streams that have not taken them yet; one further behind reads
/// from the table instead.
const FEED_CAPACITY: usize = 1024;

pub struct EventFeed {
    pool: PgPool,
    sender: broadcast::Sender<Arc<StoredEvent>>,
    reader: tokio::sync::Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl EventFeed {
    pub fn new(pool: PgPool) -> Arc<EventFeed> {
        Arc::new(EventFeed {
            pool,
            sender: broadcast::channel(FEED_CAPACITY).0,
            reader: tokio::sync::Mutex::new(None),
        })
    }

    /// Live events from now on; the reader runs while anyone listens. When it is
    /// not running it starts here, from the head read here: every stream then
    /// reads its own start (or catches up from the table) after the feed's start,
    /// so nothing falls between what a stream read itself and what it is sent.
    pub async fn subscribe(
        self: &Arc<Self>,
    ) -> Result<broadcast::Receiver<Arc<StoredEvent>>, crate::storage::StoreError> {
        let receiver = self.sender.subscribe();
        let mut reader = self.reader.lock().await;
        if reader.as_ref().is_none_or(|r| r.is_finished()) {
            let start = events::head(&self.pool).await?;
            *reader = Some(tokio::spawn(Self::read(Arc::downgrade(self), start)));
        }
        Ok(receiver)
    }

    async fn read(feed: std::sync::Weak<EventFeed>, mut cursor: Cursor) {
        let mut wakeups = Wakeups::on(EVENTS_CHANNEL);
        loop {
            let Some(feed) = feed.upgrade() else {
                return;
            };
            {
                // Decided under the lock `subscribe` takes: a stream that subscribes
                // now finds the reader gone and starts another.
                let mut reader = feed.reader.lock().await;
                if feed.sender.receiver_count() == 0 {
                    *reader = None;
                    return;
                }
            }
            metrics::counter!("onramp_event_feed_queries_total").increment(1);
            let batch = events::after(&feed.pool, cursor, FEED_BATCH)
                .await
                .unwrap_or_default();
            let full = batch.len() as i64 == FEED_BATCH;
            for e in batch {
                cursor = e.cursor();
                let _ = feed.sender.send(Arc::new(e));
            }
            if !full {
                let pool = feed.pool.clone();
                drop(feed);
                wakeups.wait(&pool, FEED_POLL).await;
            }
        }
    }
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(rename_all = "camelCase")]
#[into_params(parameter_in = Query)]
pub struct EventsQuery {
    /// Comma-separated event types to stream (all when absent).
    types: Option<String>,
    /// Where to resume, for clients that cannot send the `Last-Event-ID` header.
    last_event_id: Option<String>,
}

fn parse_types(text: Option<&str>) -> Result<Vec<String>, ApiError> {
    let Some(text) = text else {
        return Ok(Vec::new());
    };
    let mut types = Vec::new();
    for t in text.split(',').map(str::trim) {
        if !EVENT_TYPES.contains(&t) {
            return Err(ApiError::invalid(
                "unknown event type",
                vec![FieldProblem::new(
                    "types",
                    format!(
                        "{:?} is not an event type; known: {}",
                        crate::domain::text::cut_target_text(t, 64),
                        EVENT_TYPES.join(", ")
                    ),
                )],
            ));
        }
        if !types.iter().any(|k| k == t) {
            types.push(t.to_string());
        }
    }
    Ok(types)
}

struct Reader {
    state: AppState,
    org: OrgId,
    types: Vec<String>,
    /// The last event sent (or where the stream started).
    cursor: Cursor,
    /// Read from the table and not sent yet.
    backlog: VecDeque<StoredEvent>,
    /// Reading from the table: after a reconnect, or after falling behind the feed.
    catching_up: bool,
    live: broadcast::Receiver<Arc<StoredEvent>>,
    permit: super::streams::Permit,
    deadline: tokio::time::Instant,
}

impl Reader {
    fn wanted(&self, e: &StoredEvent) -> bool {
        e.org_id == self.org
            && e.cursor() > self.cursor
            && (self.types.is_empty() || self.types.contains(&e.event_type))
    }

    fn sent(&mut self, e: &StoredEvent) -> Event {
        self.cursor = e.cursor();
        Event::default()
            .id(self.cursor.to_string())
            .event(&e.event_type)
            .data(e.event.to_string())
    }

    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some(e) = self.backlog.pop_front() {
                return Some(self.sent(&e));
            }
            if self.catching_up {
                if tokio::time::Instant::now() >= self.deadline
                    || *self.permit.revoked.borrow()
                    || self.state.stopping.is_cancelled()
                {
                    return None;
                }
                match events::org_after(
                    &self.state.pool,
                    self.org,
                    self.cursor,
                    &self.types,
                    FEED_BATCH,
                )
                .await
                {
                    Ok(rows) => {
                        self.catching_up = rows.len() as i64 == FEED_BATCH;
                        self.backlog.extend(rows);
                    }
                    // A passing storage fault: look again shortly (the checks above
                    // still end the stream meanwhile).
                    Err(_) => tokio::time::sleep(Duration::from_secs(1)).await,
                }
                continue;
            }
            tokio::select! {
                got = self.live.recv() => match got {
                    Ok(e) if self.wanted(&e) => return Some(self.sent(&e)),
                    Ok(_) => {}
                    Err(broadcast::error::RecvError::Lagged(_)) => {
                        metrics::counter!("onramp_event_stream_catch_ups_total").increment(1);
                        self.catching_up = true;
                    }
                    Err(broadcast::error::RecvError::Closed) => return None,
                },
                _ = tokio::time::sleep_until(self.deadline) => return None,
                _ = self.permit.revoked() => return None,
                _ = self.state.stopping.cancelled() => return None,
            }
        }
    }
}

/// The organisation's events as they happen. Each SSE event is named by the
/// CloudEvent's type, carries the CloudEvent as JSON, and has an id to resume after.
#[utoipa::path(
    get, path = "/api/v2/events", operation_id = "orgEvents",
    summary = "Server-Sent Events of every event of the organisation; Last-Event-ID resumes without loss within the replay window",
    params(EventsQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "the id of the last event received, to resume after it")),
    responses(
        (status = 200, description = "event stream: each event is named by its type and its data is the CloudEvent",
         content_type = "text/event-stream", body = String),
        (status = 400, description = "an unknown event type or a malformed Last-Event-ID", body = super::answers::ErrorBody),
        (status = 429, description = "the organisation holds its limit of open streams", body = super::answers::ErrorBody),
    )
)]
pub async fn stream(
    State(state): State<AppState>,
    Org(org): Org,
    headers: axum::http::HeaderMap,
    ApiQuery(q): ApiQuery<EventsQuery>,
) -> Result<Sse<impl Stream<Item = Result<Event, Infallible>>>, ApiError> {
    let types = parse_types(q.types.as_deref())?;
    let resume_text = headers
        .get("last-event-id")
        .map(|v| v.to_str().unwrap_or("?").to_string())
        .or(q.last_event_id);
    let resume = match resume_text.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(text) => Some(text.parse::<Cursor>().map_err(|_| {
            ApiError::invalid(
                "malformed Last-Event-ID",
                vec![FieldProblem::new(
                    "Last-Event-ID",
                    "must be the id of an event this stream sent",
                )],
            )
        })?),
    };
    let permit = state.streams.open(org, super::auth::token_hash(&headers))?;
    // Subscribed before the start is read: nothing falls between the two.
    let live = state.events.subscribe().await?;
    let cursor = match resume {
        Some(c) => c,
        None => events::head(&state.pool).await?,
    };
    let deadline = tokio::time::Instant::now() + state.streams.max_duration;
    let reader = Reader {
        state,
        org,
        types,
        cursor,
        backlog: VecDeque::new(),
        catching_up: resume.is_some(),
        live,
        permit,
        deadline,
    };
    let stream = futures::stream::unfold(reader, |mut reader| async move {
        let event = reader.next().await?;
        Some((Ok(event), reader))
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_are_checked_and_deduplicated() {
        assert!(parse_types(None).unwrap().is_empty());
        assert_eq!(
            parse_types(Some("datasource.ready, datasource.ready,job.progress")).unwrap(),
            vec!["datasource.ready", "job.progress"]
        );
        assert!(parse_types(Some("datasource.ready,nope")).is_err());
        assert!(parse_types(Some("")).is_err());
    }
}
