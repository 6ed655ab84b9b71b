//! `GET /api/v2/events`: the organisation's events as Server-Sent Events, resumed
//! after a disconnect from `Last-Event-ID`, fed by one reader however many listen.

use std::time::Duration;

use onramp::domain::OrgId;
use onramp::domain::events::CloudEvent;
use serde_json::json;

use crate::helpers::sse::SseReader;
use crate::helpers::targets::{pg_credentials, pg_schema};
use crate::helpers::{TestApp, body, spawn_app, unique};

async fn open(app: &TestApp, token: &str, query: &str, last: Option<&str>) -> SseReader {
    let mut request = app
        .client
        .get(app.url(&format!("/api/v2/events{query}")))
        .bearer_auth(token);
    if let Some(id) = last {
        request = request.header("Last-Event-ID", id);
    }
    let response = request.send().await.unwrap();
    assert_eq!(response.status(), 200, "{}", response.text().await.unwrap());
    SseReader::new(response)
}

/// Publishes an event the way onramp does: through the outbox, in a transaction.
async fn publish(app: &TestApp, org: uuid::Uuid, ty: &str, n: usize) {
    publish_padded(app, org, ty, n, 0).await
}

/// `publish`, each event's data carrying `pad` bytes besides its number.
async fn publish_padded(app: &TestApp, org: uuid::Uuid, ty: &str, n: usize, pad: usize) {
    let org: OrgId = org.to_string().parse().unwrap();
    let mut tx = app.pool.begin().await.unwrap();
    for i in 0..n {
        let data = if pad == 0 {
            json!({"n": i})
        } else {
            json!({"n": i, "pad": "x".repeat(pad)})
        };
        let event = CloudEvent::new(ty, org, &format!("ds{i}"), data);
        onramp::storage::outbox::insert_event(&mut tx, &app.settings, org, &event)
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
}

#[tokio::test]
async fn the_stream_carries_the_organisations_events_only_and_resumes_after_a_disconnect_without_loss()
 {
    let app = spawn_app().await;
    let (other_org, _, _) = onramp::storage::tokens::create(&app.pool, "org-other", None)
        .await
        .unwrap();
    // Outcomes only: the job's progress events are streamed too, and counted elsewhere.
    let outcomes = "?types=datasource.ready,datasource.failed,datasource.deleted";
    let mut stream = open(&app, &app.token, outcomes, None).await;

    // A real job's events, then others published beside another organisation's.
    let schema = unique("s");
    pg_schema(&schema).await;
    let job = app
        .create_and_wait(&body("postgres", pg_credentials("streamed", &schema)))
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let ready = stream.take(1, Duration::from_secs(10)).await;
    assert_eq!(ready[0].event, "datasource.ready", "{ready:?}");
    assert_eq!(ready[0].data["type"], "datasource.ready");
    assert_eq!(ready[0].data["subject"], "streamed");
    assert_eq!(ready[0].data["specversion"], "1.0");

    publish(&app, other_org.as_uuid(), "datasource.failed", 3).await;
    publish(&app, app.org_id, "datasource.deleted", 2).await;
    let two = stream.take(2, Duration::from_secs(10)).await;
    assert!(
        two.iter().all(|e| e.event == "datasource.deleted"),
        "{two:?}"
    );
    let last_seen = two[1].id.clone();
    drop(stream);

    // While nobody listens: 5 more, in two transactions.
    publish(&app, app.org_id, "datasource.failed", 3).await;
    publish(&app, other_org.as_uuid(), "datasource.ready", 1).await;
    publish(&app, app.org_id, "datasource.ready", 2).await;
    let mut resumed = open(&app, &app.token, outcomes, Some(&last_seen)).await;
    let missed = resumed.take(5, Duration::from_secs(10)).await;
    let kinds: Vec<&str> = missed.iter().map(|e| e.event.as_str()).collect();
    assert_eq!(
        kinds,
        [
            "datasource.failed",
            "datasource.failed",
            "datasource.failed",
            "datasource.ready",
            "datasource.ready"
        ]
    );
    let subjects: Vec<&str> = missed
        .iter()
        .map(|e| e.data["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["ds0", "ds1", "ds2", "ds0", "ds1"]);
    // Then live again, with nothing sent twice.
    publish(&app, app.org_id, "datasource.deleted", 1).await;
    let live = resumed.take(1, Duration::from_secs(10)).await;
    assert_eq!(live[0].event, "datasource.deleted");
    assert!(resumed.next(Duration::from_millis(500)).await.is_none());

    // The same resume point, asked again, gives the same events.
    let mut again = open(&app, &app.token, outcomes, Some(&last_seen)).await;
    let replayed = again.take(6, Duration::from_secs(10)).await;
    let ids: Vec<&str> = replayed.iter().map(|e| e.id.as_str()).collect();
    let mut expected: Vec<&str> = missed.iter().map(|e| e.id.as_str()).collect();
    expected.push(&live[0].id);
    assert_eq!(ids, expected);
    app.stop().await;
}

#[tokio::test]
async fn a_filter_by_type_and_bad_resume_points_and_types_are_answered() {
    let app = spawn_app().await;
    let mut failed_only = open(&app, &app.token, "?types=datasource.failed", None).await;
    publish(&app, app.org_id, "datasource.ready", 2).await;
    publish(&app, app.org_id, "datasource.failed", 1).await;
    let got = failed_only.take(1, Duration::from_secs(10)).await;
    assert_eq!(got[0].event, "datasource.failed");
    assert!(failed_only.next(Duration::from_millis(500)).await.is_none());

    for (query, header) in [
        ("?types=datasource.nope", None),
        ("", Some("not-a-cursor")),
        ("?lastEventId=1-2-3", None),
    ] {
        let mut request = app
            .client
            .get(app.url(&format!("/api/v2/events{query}")))
            .bearer_auth(&app.token);
        if let Some(h) = header {
            request = request.header("Last-Event-ID", h);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), 400, "{query} {header:?}");
    }
    let response = app
        .client
        .get(app.url("/api/v2/events"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    app.stop().await;
}

#[tokio::test]
async fn many_listeners_share_one_reader_and_a_listener_that_fell_behind_loses_nothing() {
    let app = spawn_app().await;
    let mut listeners = Vec::new();
    for _ in 0..20 {
        listeners.push(open(&app, &app.token, "", None).await);
    }
    let queries = || {
        let text = onramp::telemetry::metrics().render();
        text.lines()
            .find(|l| l.starts_with("onramp_event_feed_queries_total"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|n| n.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let before = queries();
    tokio::time::sleep(Duration::from_secs(2)).await;
    let spent = queries() - before;
    // One reader polls every 250 ms: about 8 in 2 s, whatever the number of listeners.
    assert!(
        (1.0..=20.0).contains(&spent),
        "{spent} feed queries for 20 listeners"
    );

    // 3,000 events of 16 kB (48 MB, more than the sockets hold) while the listeners
    // read nothing: their streams fall more than the feed holds behind it.
    for _ in 0..6 {
        publish_padded(&app, app.org_id, "job.progress", 500, 16 * 1024).await;
    }
    for (i, listener) in listeners.iter_mut().enumerate().take(2) {
        let got = listener.take(3_000, Duration::from_secs(60)).await;
        let mut ids: Vec<&str> = got.iter().map(|e| e.id.as_str()).collect();
        ids.dedup();
        assert_eq!(ids.len(), 3_000, "listener {i}");
        let subjects: Vec<i64> = got
            .iter()
            .map(|e| e.data["data"]["n"].as_i64().unwrap())
            .collect();
        let expected: Vec<i64> = (0..6).flat_map(|_| 0..500).collect();
        assert_eq!(subjects, expected, "listener {i}: in order");
    }
    let catch_ups = onramp::telemetry::metrics()
        .render()
        .lines()
        .find_map(|l| {
            l.strip_prefix("onramp_event_stream_catch_ups_total ")
                .map(str::to_string)
        })
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or(0.0);
    assert!(
        catch_ups >= 1.0,
        "the listeners never fell behind: the catch-up was not tried"
    );
    app.stop().await;
}
