//! Targets that are busy for a while: at their connection limit, rate limiting.
//! The job tries again within its time and says so; only then does it fail, with a
//! hint that names the limit.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use mysql_async::prelude::Queryable;
use serde_json::json;

use crate::helpers::hostile::{Answer, serve};
use crate::helpers::targets::{mysql_admin, mysql_credentials, pg_admin, pg_credentials};
use crate::helpers::{body, spawn_with, unique};

/// A PostgreSQL role allowed one connection, and that connection, held.
async fn pg_role_at_its_limit() -> (String, tokio_postgres::Client) {
    let role = unique("busy");
    pg_admin()
        .await
        .batch_execute(&format!("CREATE ROLE {role} LOGIN CONNECTION LIMIT 1"))
        .await
        .unwrap();
    let (held, connection) = tokio_postgres::connect(
        &format!("host=127.0.0.1 port=5432 user={role} dbname=test"),
        tokio_postgres::NoTls,
    )
    .await
    .unwrap();
    tokio::spawn(connection);
    (role, held)
}

#[tokio::test]
async fn a_postgres_server_at_its_connection_limit_is_tried_again_until_a_slot_frees() {
    let app = spawn_with(|s| s.connect_timeout = Duration::from_millis(10_000)).await;
    let (role, held) = pg_role_at_its_limit().await;
    let mut c = pg_credentials("busy-pg", "public");
    c["username"] = json!(role);
    let accepted = app.accept(&body("postgres", c)).await;
    // The other connection goes away after a second.
    tokio::time::sleep(Duration::from_secs(1)).await;
    drop(held);
    let job = app
        .wait_for_job(accepted["jobId"].as_str().unwrap(), Duration::from_secs(30))
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let connect = job["steps"][1]["message"].as_str().unwrap();
    assert!(
        connect.contains("retries: the server was at its connection limit"),
        "{connect}"
    );
    let _ = pg_admin()
        .await
        .batch_execute(&format!("DROP ROLE {role}"))
        .await;
    app.stop().await;
}

#[tokio::test]
async fn a_server_that_stays_at_its_limit_fails_the_job_naming_the_limit() {
    let app = spawn_with(|s| s.connect_timeout = Duration::from_millis(2_500)).await;
    let (role, held) = pg_role_at_its_limit().await;
    let mut c = pg_credentials("busy-pg", "public");
    c["username"] = json!(role);
    let job = app
        .fails_with(
            &body("postgres", c),
            "connect: the server refused the request: too many connections…",
        )
        .await;
    let message = job["error"]["message"].as_str().unwrap();
    assert!(message.contains("tried "), "{message}");
    assert!(
        job["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("connection limit"),
        "{job}"
    );
    drop(held);

    // MariaDB's per-user limit answers the same way.
    let user = unique("b");
    let mut admin = mysql_admin().await;
    admin
        .query_drop(format!(
            "CREATE USER '{user}'@'%' IDENTIFIED BY 'pw' WITH MAX_USER_CONNECTIONS 1"
        ))
        .await
        .unwrap();
    admin
        .query_drop(format!("GRANT SELECT ON test.* TO '{user}'@'%'"))
        .await
        .unwrap();
    let held = mysql_async::Conn::new(
        mysql_async::OptsBuilder::default()
            .ip_or_hostname("127.0.0.1")
            .tcp_port(3306)
            .user(Some(user.clone()))
            .pass(Some("pw"))
            .prefer_socket(false),
    )
    .await
    .unwrap();
    let mut c = mysql_credentials("busy-my", "test");
    c["username"] = json!(user);
    c["password"] = json!("pw");
    let job = app
        .fails_with(
            &body("mysql", c),
            "connect: the server refused the connection…",
        )
        .await;
    assert!(
        job["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("connection limit"),
        "{job}"
    );
    let _ = held.disconnect().await;
    let _ = admin.query_drop(format!("DROP USER '{user}'@'%'")).await;
    let _ = pg_admin()
        .await
        .batch_execute(&format!("DROP ROLE {role}"))
        .await;
    app.stop().await;
}

#[tokio::test]
async fn an_http_target_that_answers_429_with_retry_after_is_asked_again() {
    let asked = Arc::new(AtomicUsize::new(0));
    let counter = asked.clone();
    let (port, _server) = serve(move |path| {
        if path == "/" {
            if counter.fetch_add(1, Ordering::SeqCst) < 2 {
                return Answer::Raw(
                    "HTTP/1.1 429 Too Many Requests\r\nretry-after: 1\r\ncontent-length: 0\r\n\r\n"
                        .into(),
                );
            }
            return Answer::Json(r#"{"version":{"number":"8.15.0"}}"#.into());
        }
        if path.starts_with("/_cat/indices") {
            Answer::Json("[]".into())
        } else {
            Answer::Json("{}".into())
        }
    })
    .await;
    let app = spawn_with(|s| s.connect_timeout = Duration::from_millis(10_000)).await;
    let job = app
        .create_and_wait(&body(
            "elasticsearch",
            json!({"name": "rate-limited", "url": format!("http://127.0.0.1:{port}"), "indexPattern": "*"}),
        ))
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(
        asked.load(Ordering::SeqCst),
        3,
        "asked twice more after two 429s"
    );
    let connect = job["steps"][1]["message"].as_str().unwrap();
    assert!(connect.contains("after 2 retries"), "{connect}");
    app.stop().await;
}

#[tokio::test]
async fn a_server_that_asks_for_a_wait_longer_than_the_step_fails_it_as_busy_not_as_a_timeout() {
    let (port, _server) = serve(|_| {
        Answer::Raw(
            "HTTP/1.1 429 Too Many Requests\r\nretry-after: 120\r\ncontent-length: 0\r\n\r\n"
                .into(),
        )
    })
    .await;
    // Room for the answer on a busy machine; the wait asked for (120 s) is still
    // far past the step.
    let app = spawn_with(|s| s.connect_timeout = Duration::from_millis(10_000)).await;
    let started = std::time::Instant::now();
    let job = app
        .fails_with(
            &body(
                "elasticsearch",
                json!({"name": "slow-down", "url": format!("http://127.0.0.1:{port}"), "indexPattern": "*"}),
            ),
            "connect: 127.0.0.1 answered 429 too many requests",
        )
        .await;
    assert!(
        job["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("rate limit"),
        "{job}"
    );
    // Refused as busy at once, not after waiting the step out.
    assert!(started.elapsed() < Duration::from_secs(10));
    app.stop().await;
}
