//! The egress policy through the service: early refusal at the API, EGRESS_DENIED
//! from the worker, and no connection to a refused address.

use std::sync::atomic::Ordering;

use onramp::egress::Egress;
use onramp::startup::Roles;
use serde_json::{Value, json};

use crate::helpers::targets::pg_credentials;
use crate::helpers::{body, spawn_with, spawn_with_egress, test_settings, unique};
use crate::support_egress::{RecordingConnector, ScriptedResolver, counting_listener, shared};

#[tokio::test]
async fn the_api_refuses_literal_forbidden_addresses_and_host_tricks_before_recording_anything() {
    let app = spawn_with(|s| s.egress_deny = "127.0.0.2/32".into()).await;
    for (host, expect) in [
        ("169.254.169.254", "link-local"),
        ("[fd00:ec2::254]", "metadata"),
        ("127.0.0.2", "deny list"),
        ("0.0.0.0", "unspecified"),
        ("user@127.0.0.1", "host name or an IP address"),
        (
            "db.example.com,169.254.169.254",
            "host name or an IP address",
        ),
        ("db?host=169.254.169.254", "host name or an IP address"),
    ] {
        let mut c = pg_credentials("egress", "public");
        c["host"] = json!(host);
        let r = app.post_datasource(&body("postgres", c)).await;
        assert_eq!(r.status(), 400, "{host}");
        let answer: Value = r.json().await.unwrap();
        assert_eq!(answer["error"]["code"], "INVALID_REQUEST_BODY");
        let detail = &answer["error"]["details"][0];
        assert_eq!(detail["field"], "credentials.host");
        assert!(
            detail["problem"].as_str().unwrap().contains(expect),
            "{host}: {answer}"
        );
    }
    assert_eq!(app.count("datasources").await + app.count("jobs").await, 0);
    app.stop().await;
}

#[tokio::test]
async fn a_worker_refuses_names_that_resolve_to_forbidden_addresses_without_connecting() {
    let (denied_port, denied_seen) = counting_listener("127.0.0.2").await;
    let resolver = shared::<ScriptedResolver>();
    let connector = shared::<RecordingConnector>();
    resolver.answer("inside.test", &[&["127.0.0.2"]]);
    resolver.answer("metadata.test", &[&["169.254.169.254"]]);
    resolver.answer("db.test", &[&["127.0.0.1"]]);
    let id = unique("t");
    let mut settings = test_settings(&id);
    settings.egress_deny = "127.0.0.2/32".into();
    let policy = settings.egress_policy().unwrap();
    let egress = Egress::with(policy, resolver.clone(), connector.clone());
    let app = spawn_with_egress(
        id,
        settings,
        Roles {
            api: true,
            worker: true,
        },
        egress,
    )
    .await;

    for (name, host, port, class) in [
        ("inside", "inside.test", denied_port, "deny list"),
        ("metadata", "metadata.test", 5432, "link-local"),
    ] {
        let mut c = pg_credentials(name, "public");
        c["host"] = json!(host);
        c["port"] = json!(port);
        let job = app.create_and_wait(&body("postgres", c)).await;
        assert_eq!(job["status"], "failed");
        assert_eq!(job["error"]["code"], "EGRESS_DENIED", "{job}");
        let message = job["error"]["message"].as_str().unwrap();
        assert!(
            message.contains(class) && message.starts_with("connect: "),
            "{message}"
        );
        assert!(
            job["error"]["hint"]
                .as_str()
                .unwrap()
                .contains("ONRAMP_EGRESS"),
            "{job}"
        );
    }
    // The mysql connector goes through the same guard.
    let job = app
        .create_and_wait(&body(
            "mysql",
            json!({"name": "my-inside", "host": "inside.test", "port": denied_port,
            "username": "root", "database": "test"}),
        ))
        .await;
    assert_eq!(job["error"]["code"], "EGRESS_DENIED", "{job}");

    // So does clickhouse's HTTP client: the name resolves through the guard.
    let job = app
        .create_and_wait(&body(
            "clickhouse",
            json!({"name": "ch-inside", "host": "inside.test", "port": denied_port, "database": "default"}),
        ))
        .await;
    assert_eq!(job["error"]["code"], "EGRESS_DENIED", "{job}");
    let job = app
        .create_and_wait(&body(
            "clickhouse",
            json!({"name": "ch-allowed", "host": "db.test", "port": crate::helpers::targets::CLICKHOUSE_PORT, "database": "default"}),
        ))
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");

    // An allowed name still works, through the same guard.
    let mut ok = pg_credentials("allowed", "public");
    ok["host"] = json!("db.test");
    assert_eq!(
        app.create_and_wait(&body("postgres", ok)).await["status"],
        "succeeded"
    );

    // mysql_async connects to the guard's addresses, never resolving the name itself.
    let job = app
        .create_and_wait(&body(
            "mysql",
            json!({"name": "my-allowed", "host": "db.test", "username": "root", "database": "test"}),
        ))
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");

    let attempts = connector.attempts();
    assert!(
        attempts.iter().all(|a| a.ip().to_string() == "127.0.0.1"),
        "{attempts:?}"
    );
    assert_eq!(
        denied_seen.load(Ordering::SeqCst),
        0,
        "the denied listener saw nothing"
    );
    app.stop().await;
}

#[tokio::test]
async fn refusing_private_ranges_refuses_loopback_targets_too() {
    let app = spawn_with(|s| s.egress_allow_private = false).await;
    let r = app
        .post_datasource(&body("postgres", pg_credentials("private", "public")))
        .await;
    assert_eq!(r.status(), 400);
    let answer: Value = r.json().await.unwrap();
    assert!(
        answer["error"]["details"][0]["problem"]
            .as_str()
            .unwrap()
            .contains("ONRAMP_EGRESS_ALLOW_PRIVATE"),
        "{answer}"
    );
    let mut named = pg_credentials("private-name", "public");
    named["host"] = json!("localhost");
    let job = app.create_and_wait(&body("postgres", named)).await;
    assert_eq!(job["error"]["code"], "EGRESS_DENIED", "{job}");
    app.stop().await;
}
