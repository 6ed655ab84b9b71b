//! The egress policy through the service: early refusal at the API, EGRESS_DENIED
//! from the worker, and no connection to a refused address.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use onramp::egress::Egress;
use onramp::startup::Roles;
use serde_json::{Value, json};

use crate::helpers::targets::pg_credentials;
use crate::helpers::{TestApp, body, spawn_with, spawn_with_egress, test_settings, unique};
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

/// An app whose workers resolve names through a script (inside.test to 127.0.0.2, which
/// the deny list refuses; metadata.test to 169.254.169.254; db.test to 127.0.0.1) and
/// connect through a recorder, with a listener on the denied address that counts.
struct Guarded {
    app: TestApp,
    connector: Arc<RecordingConnector>,
    denied_port: u16,
    denied_seen: Arc<AtomicUsize>,
}

async fn guarded_app() -> Guarded {
    let (denied_port, denied_seen) = counting_listener("127.0.0.2").await;
    let resolver = shared::<ScriptedResolver>();
    let connector = shared::<RecordingConnector>();
    resolver.answer("inside.test", &[&["127.0.0.2"]]);
    resolver.answer("metadata.test", &[&["169.254.169.254"]]);
    resolver.answer("db.test", &[&["127.0.0.1"]]);
    // Dotless: moto reads a dotted Host as a bucket's virtual host.
    resolver.answer("objectstore", &[&["127.0.0.1"]]);
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
    Guarded {
        app,
        connector,
        denied_port,
        denied_seen,
    }
}

impl Guarded {
    /// Every connection went to 127.0.0.1, none reached the denied listener.
    fn assert_only_127_0_0_1_was_reached(&self) {
        let attempts = self.connector.attempts();
        assert!(
            attempts.iter().all(|a| a.ip().to_string() == "127.0.0.1"),
            "{attempts:?}"
        );
        assert_eq!(
            self.denied_seen.load(Ordering::SeqCst),
            0,
            "the denied listener saw nothing"
        );
    }
}

#[tokio::test]
async fn a_postgres_name_resolving_to_a_denied_or_link_local_address_is_refused_unconnected() {
    let guarded = guarded_app().await;
    for (name, host, port, class) in [
        ("inside", "inside.test", guarded.denied_port, "deny list"),
        ("metadata", "metadata.test", 5432, "link-local"),
    ] {
        let mut c = pg_credentials(name, "public");
        c["host"] = json!(host);
        c["port"] = json!(port);
        let job = guarded.app.create_and_wait(&body("postgres", c)).await;
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
    guarded.assert_only_127_0_0_1_was_reached();
    guarded.app.stop().await;
}

#[tokio::test]
async fn the_mysql_and_clickhouse_connectors_refuse_a_denied_name_through_the_same_guard() {
    let guarded = guarded_app().await;
    let (app, denied_port) = (&guarded.app, guarded.denied_port);
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
    guarded.assert_only_127_0_0_1_was_reached();
    guarded.app.stop().await;
}

#[tokio::test]
async fn allowed_names_connect_through_the_guard_for_clickhouse_postgres_and_mysql() {
    let guarded = guarded_app().await;
    let app = &guarded.app;
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
    guarded.assert_only_127_0_0_1_was_reached();
    guarded.app.stop().await;
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

/// The connect step's message of a job, as a client reads it.
fn connect_message(job: &Value) -> String {
    job["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == "connect"))
        .and_then(|s| s["message"].as_str())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn a_login_sent_in_clear_to_another_machine_is_warned_about_in_the_connect_step() {
    // db.test is another machine as far as onramp knows (the test's resolver
    // answers it with 127.0.0.1); 127.0.0.1 itself is this machine.
    let guarded = guarded_app().await;
    let app = &guarded.app;
    let mysql = |name: &str, host: &str| {
        body(
            "mysql",
            json!({"name": name, "host": host, "username": "root", "database": "test"}),
        )
    };
    let clickhouse = |name: &str, host: &str| {
        body(
            "clickhouse",
            json!({"name": name, "host": host, "port": crate::helpers::targets::CLICKHOUSE_PORT, "database": "default"}),
        )
    };
    for (request, warned) in [
        (mysql("my-remote", "db.test"), true),
        (mysql("my-local", "127.0.0.1"), false),
        (clickhouse("ch-remote", "db.test"), true),
        (clickhouse("ch-local", "127.0.0.1"), false),
    ] {
        let job = app.create_and_wait(&request).await;
        assert_eq!(job["status"], "succeeded", "{job}");
        let message = connect_message(&job);
        assert_eq!(
            message.contains("without TLS, readable on the way"),
            warned,
            "{message}"
        );
    }
    guarded.assert_only_127_0_0_1_was_reached();
    guarded.app.stop().await;
}

#[tokio::test]
async fn the_aws_sdks_client_resolves_through_the_guard_and_refuses_a_denied_name() {
    let guarded = guarded_app().await;
    let (app, denied_port) = (&guarded.app, guarded.denied_port);
    let bucket = unique("b");
    crate::helpers::s3::bucket(&bucket).await;
    crate::helpers::s3::object(&bucket, "a.csv", "x,y\n1,2\n").await;
    let s3 = |name: &str, endpoint: String| {
        body(
            "awss3",
            json!({"name": name, "region": "us-east-1", "bucket": bucket, "accessKeyId": "AKIDONRAMPTEST",
                   "secretAccessKey": "not-checked", "endpoint": endpoint}),
        )
    };
    // inside.test is on the deny list: the SDK's connection is never made.
    let job = app
        .create_and_wait(&s3(
            "s3-inside",
            format!("http://inside.test:{denied_port}"),
        ))
        .await;
    assert_eq!(job["error"]["code"], "EGRESS_DENIED", "{job}");
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap()
            .contains("no connection was attempted"),
        "{job}"
    );
    assert_eq!(guarded.denied_seen.load(Ordering::SeqCst), 0);
    // objectstore exists only in the test's resolver: reaching moto through it shows
    // the SDK asked the guard, not the system, for the address.
    let port = crate::helpers::s3::MOTO_PORT;
    let job = app
        .create_and_wait(&s3("s3-allowed", format!("http://objectstore:{port}")))
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");
    guarded.app.stop().await;
}
