//! A large discovery reports how far it has got while it runs: `job.progress` events
//! with relations done and total, at most one per `progress_interval`, and the
//! step's `progress` in the job.

use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::events::Subscriber;
use crate::helpers::targets::*;
use crate::helpers::{body, spawn_with, unique};

/// A loopback proxy to `target` that passes the server's bytes on slowly (4 KiB
/// every 10 ms), so that a discovery lasts long enough to be watched without a
/// catalog large enough to slow the tests beside it.
async fn throttled(target: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((inbound, _)) = listener.accept().await {
            tokio::spawn(async move {
                let Ok(outbound) = TcpStream::connect(target).await else {
                    return;
                };
                let (mut client_read, mut client_write) = inbound.into_split();
                let (mut server_read, mut server_write) = outbound.into_split();
                let up = tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut client_read, &mut server_write).await;
                });
                let mut chunk = vec![0u8; 4 * 1024];
                while let Ok(n) = server_read.read(&mut chunk).await {
                    if n == 0 || client_write.write_all(&chunk[..n]).await.is_err() {
                        break;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
                up.abort();
            });
        }
    });
    port
}

#[tokio::test]
async fn a_large_discovery_publishes_its_progress_at_a_bounded_rate_and_the_job_shows_it() {
    let app = spawn_with(|s| {
        s.progress_min_relations = 100;
        s.progress_interval = Duration::from_millis(40);
        s.discover_timeout = Duration::from_secs(60);
    })
    .await;
    let schema = unique("s");
    let columns: String = (0..6).map(|c| format!(", c{c} text")).collect();
    let tables: String = (0..200)
        .map(|t| format!("CREATE TABLE {schema}.t{t:03} (id int PRIMARY KEY{columns});"))
        .collect();
    pg_admin()
        .await
        .batch_execute(&format!("CREATE SCHEMA {schema}; {tables}"))
        .await
        .unwrap();
    let port = throttled("127.0.0.1:5432").await;
    let mut events = Subscriber::events(&app.settings).await;

    let mut credentials = pg_credentials("wide", &schema);
    credentials["port"] = json!(port);
    let job = app.create_and_wait(&body("postgres", credentials)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let discover = &job["steps"][2];
    assert_eq!(discover["name"], "discover");
    assert_eq!(
        discover["progress"],
        json!({"relationsDone": 200, "relationsTotal": 200}),
        "{discover}"
    );

    let seen = events.drain(Duration::from_millis(1500)).await;
    let reports: Vec<&Value> = seen
        .iter()
        .map(|e| &e.body["data"]["step"])
        .filter(|s| {
            s["name"] == "discover" && s["status"] == "running" && s["progress"].is_object()
        })
        .collect();
    assert!(
        reports.len() >= 2,
        "{} progress reports: {reports:?}",
        reports.len()
    );
    let done: Vec<u64> = reports
        .iter()
        .map(|s| s["progress"]["relationsDone"].as_u64().unwrap())
        .collect();
    assert!(done.windows(2).all(|w| w[0] < w[1]), "{done:?}");
    assert!(
        reports
            .iter()
            .all(|s| s["progress"]["relationsTotal"] == 200)
    );
    assert!(
        reports[0]["message"]
            .as_str()
            .unwrap()
            .ends_with("of 200 relations")
    );
    // Bounded: no more than one report per interval of the discovery's duration.
    let duration = discover["durationMs"].as_u64().unwrap();
    assert!(
        (reports.len() as u64) <= duration / 40 + 1,
        "{} reports in {duration} ms",
        reports.len()
    );

    app.stop().await;
    drop_pg_schema(&schema).await;
}

#[tokio::test]
async fn a_small_discovery_reports_no_progress() {
    let app = spawn_with(|s| s.progress_interval = Duration::from_millis(10)).await;
    let schema = unique("s");
    pg_schema(&schema).await;
    let job = app
        .create_and_wait(&body("postgres", pg_credentials("small", &schema)))
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert!(job["steps"][2].get("progress").is_none(), "{job}");
    app.stop().await;
    drop_pg_schema(&schema).await;
}
