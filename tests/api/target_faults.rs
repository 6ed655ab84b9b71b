//! Faults of the target end the job failed, with the step, the cause and a hint,
//! within the phase timeout.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::helpers::proxy::{closed_port, silent_server};
use crate::helpers::targets::*;
use crate::helpers::{TestApp, body, spawn_app, unique};

async fn failed(app: &TestApp, ty: &str, credentials: Value) -> Value {
    let job = app.create_and_wait(&body(ty, credentials)).await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(
        job["error"]["hint"].as_str().is_some_and(|h| !h.is_empty()),
        "{job}"
    );
    job
}

fn error(job: &Value) -> (&str, &str) {
    (
        job["error"]["code"].as_str().unwrap(),
        job["error"]["message"].as_str().unwrap(),
    )
}

#[tokio::test]
async fn refused_silent_and_unknown_database_targets_each_fail_precisely() {
    let app = spawn_app().await;
    for &ty in WIRE_TYPES {
        let creds = |name: &str| credentials_for(ty, name);

        let mut refused = creds(&format!("{ty}-refused"));
        refused["port"] = json!(closed_port().await);
        let job = failed(&app, ty, refused).await;
        let (code, message) = error(&job);
        assert_eq!(code, "CREDENTIAL_TEST_FAILED");
        assert!(
            message.starts_with("connect: ") && message.contains("could not reach"),
            "{ty}: {message}"
        );
        assert_eq!(job["steps"][1]["status"], "failed");
        assert_eq!(job["steps"][2]["status"], "skipped");

        let (port, _server) = silent_server().await;
        let mut silent = creds(&format!("{ty}-silent"));
        silent["port"] = json!(port);
        let started = Instant::now();
        let job = failed(&app, ty, silent).await;
        let (_, message) = error(&job);
        assert!(
            message.contains("connect timed out after 2000 ms"),
            "{ty}: {message}"
        );
        assert!(
            started.elapsed() < Duration::from_secs(8),
            "{ty}: a silent server held the job {:?}",
            started.elapsed()
        );

        let mut unknown = creds(&format!("{ty}-nodb"));
        unknown["database"] = json!("no_such_db_here");
        let job = failed(&app, ty, unknown).await;
        let (code, message) = error(&job);
        assert_eq!(code, "CREDENTIAL_TEST_FAILED");
        assert!(
            message.contains("database no_such_db_here does not exist"),
            "{ty}: {message}"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_password_fails_with_an_authentication_message() {
    let app = spawn_app().await;
    let user = unique("u");
    scram_user(&user, "right-password").await;
    let mut c = mysql_admin().await;
    use mysql_async::prelude::Queryable;
    c.query_drop(format!(
        "CREATE USER '{user}'@'%' IDENTIFIED BY 'right-password'"
    ))
    .await
    .unwrap();
    c.query_drop(format!("GRANT SELECT ON test.* TO '{user}'@'%'"))
        .await
        .unwrap();
    for &ty in WIRE_TYPES {
        let mut creds = credentials_for(ty, &format!("{ty}-auth"));
        creds["username"] = json!(user);
        creds["password"] = json!("wrong-password");
        if is_pg_wire(ty) {
            // The cluster that checks passwords.
            creds["port"] = json!(SCRAM_PORT);
            creds["database"] = json!("postgres");
        }
        let job = failed(&app, ty, creds.clone()).await;
        let (code, message) = error(&job);
        assert_eq!(code, "CREDENTIAL_TEST_FAILED", "{ty}");
        assert!(
            message.contains(&format!("login as {user} was refused")),
            "{ty}: {message}"
        );
        let mut right = creds;
        right["name"] = json!(format!("{ty}-auth-ok"));
        right["password"] = json!("right-password");
        let job = app.create_and_wait(&body(ty, right)).await;
        assert_eq!(job["status"], "succeeded", "{ty}: {job}");
    }
    c.query_drop(format!("DROP USER '{user}'@'%'"))
        .await
        .unwrap();
    app.stop().await;
}

#[tokio::test]
async fn a_tls_mismatch_fails_as_tls() {
    let app = spawn_app().await;
    // The local PostgreSQL has a self-signed certificate: verify-full must refuse it.
    let mut pg = pg_credentials("pg-tls", "public");
    pg["host"] = json!("localhost");
    pg["sslMode"] = json!("verify-full");
    let job = failed(&app, "postgres", pg).await;
    assert!(error(&job).1.contains("tls"), "{job}");
    // The local MariaDB has no TLS at all.
    let mut my = mysql_credentials("my-tls", "test");
    my["ssl"] = json!(true);
    let job = failed(&app, "mysql", my).await;
    assert!(error(&job).1.contains("tls"), "{job}");
    app.stop().await;
}
