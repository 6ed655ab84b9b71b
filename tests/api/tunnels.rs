//! SSH tunnels end to end: postgres, mysql and clickhouse (HTTP) reached through
//! Debian's OpenSSH server as the bastion, with every kind of key, a password, and
//! key plus password; the host key pinned on first use.

use serde_json::{Value, json};

use crate::helpers::targets::*;
use crate::helpers::{body, spawn_app, ssh, table, unique};

/// The job's step of that name.
pub fn step<'a>(job: &'a Value, name: &str) -> &'a Value {
    job["steps"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == name))
        .unwrap_or_else(|| panic!("no {name} step: {job}"))
}

#[tokio::test]
async fn postgres_is_reached_through_the_bastion_with_each_kind_of_key() {
    let app = spawn_app().await;
    let schema = unique("s");
    pg_schema(&schema).await;
    let expected = ssh::fingerprint("ssh_host_ed25519_key");
    for (key, passphrase) in [
        ("id_rsa", None),
        ("id_ecdsa", None),
        ("id_ed25519", None),
        ("id_ed25519_enc", Some("onramp-passphrase")),
    ] {
        let name = format!("pg-{}", key.replace('_', "-"));
        let mut credentials = pg_credentials(&name, &schema);
        credentials["tunnel"] = ssh::with_key(key);
        if let Some(p) = passphrase {
            credentials["tunnel"]["passphrase"] = json!(p);
        }
        let job = app.create_and_wait(&body("postgres", credentials)).await;
        assert_eq!(job["status"], "succeeded", "{key}: {job}");
        let names: Vec<&str> = job["steps"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["name"].as_str())
            .collect();
        assert_eq!(
            names,
            ["validate", "tunnel", "connect", "discover", "cache"]
        );
        let tunnel = step(&job, "tunnel");
        assert_eq!(tunnel["status"], "passed", "{job}");
        let message = tunnel["message"].as_str().unwrap();
        assert!(message.contains(&expected), "{key}: {message}");
        assert!(message.contains("trusted on first use"), "{message}");
        let snapshot: Value = app
            .get(&format!("/api/v2/datasource/{name}/schema"))
            .await
            .json()
            .await
            .unwrap();
        assert_eq!(table(&snapshot, "orders")["columns"][0]["name"], "id");
        // The tunnel is shown without its secrets.
        let shown: Value = app
            .get(&format!("/api/v2/datasource/{name}"))
            .await
            .json()
            .await
            .unwrap();
        let text = shown.to_string();
        assert!(!text.contains("PRIVATE KEY"), "{text}");
        assert!(!text.contains("onramp-passphrase"), "{text}");
        assert!(text.contains("onramp_tkey"), "{text}");
    }
    drop_pg_schema(&schema).await;
    app.stop().await;
}

#[tokio::test]
async fn mysql_is_reached_through_the_bastion_with_a_password() {
    let app = spawn_app().await;
    let db = unique("m");
    mysql_database(&db).await;
    let mut credentials = mysql_credentials("my", &db);
    credentials["tunnel"] = ssh::with_password(ssh::PORT);
    let job = app.create_and_wait(&body("mysql", credentials)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(step(&job, "tunnel")["status"], "passed");
    let shown = app.get("/api/v2/datasource/my").await.text().await.unwrap();
    assert!(!shown.contains("onramp-pw"), "{shown}");
    drop_mysql_database(&db).await;
    app.stop().await;
}

#[tokio::test]
async fn clickhouse_over_http_is_reached_through_the_bastion() {
    let app = spawn_app().await;
    let db = unique("k");
    clickhouse_database(&db).await;
    let mut credentials = clickhouse_credentials("ch", &db);
    credentials["tunnel"] = ssh::with_password(ssh::PORT);
    let job = app.create_and_wait(&body("clickhouse", credentials)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert_eq!(step(&job, "tunnel")["status"], "passed");
    drop_clickhouse_database(&db).await;
    app.stop().await;
}

#[tokio::test]
async fn a_bastion_that_asks_for_key_and_password_gets_both() {
    let app = spawn_app().await;
    let schema = unique("s");
    pg_schema(&schema).await;
    let both = json!({"host": "127.0.0.1", "port": ssh::PORT, "username": "onramp_tboth",
                      "privateKey": ssh::key("id_ed25519"), "password": "onramp-both"});
    let mut credentials = pg_credentials("both", &schema);
    credentials["tunnel"] = both.clone();
    credentials["tunnel"]["auth"] = json!("key+password");
    let job = app.create_and_wait(&body("postgres", credentials)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    // No secret of the tunnel in the job, its steps or the datasource's record.
    let shown = app
        .get("/api/v2/datasource/both")
        .await
        .text()
        .await
        .unwrap();
    for text in [job.to_string(), shown] {
        assert!(!text.contains("onramp-both"), "{text}");
        assert!(!text.contains("PRIVATE KEY"), "{text}");
    }
    // With the key alone the bastion says what more it wants.
    let mut credentials = pg_credentials("key-only", &schema);
    credentials["tunnel"] = both;
    credentials["tunnel"]["auth"] = json!("key");
    let job = app
        .fails_with(
            &body("postgres", credentials),
            "tunnel: the bastion 127.0.0.1:2222 accepted the key of onramp_tboth but asks for more: it offers password",
        )
        .await;
    assert_eq!(job["error"]["code"], "CREDENTIAL_TEST_FAILED");
    assert_eq!(step(&job, "connect")["status"], "skipped");
    drop_pg_schema(&schema).await;
    app.stop().await;
}

#[tokio::test]
async fn the_first_host_key_is_pinned_and_a_changed_one_fails_the_next_job() {
    let app = spawn_app().await;
    let schema = unique("s");
    pg_schema(&schema).await;
    let bastion = ssh::Sshd::start("ssh_host_ed25519_key").await;
    let mut credentials = pg_credentials("pinned", &schema);
    credentials["tunnel"] = ssh::with_password(bastion.port);
    let job = app.create_and_wait(&body("postgres", credentials)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let first = ssh::fingerprint("ssh_host_ed25519_key");
    assert!(
        step(&job, "tunnel")["message"]
            .as_str()
            .unwrap()
            .contains(&format!(
                "host key {first} (trusted on first use and pinned"
            )),
        "{job}"
    );
    // Same key: the pin holds.
    let sync = app.sync_and_wait("pinned").await;
    assert_eq!(sync["status"], "succeeded", "{sync}");
    assert!(
        step(&sync, "tunnel")["message"]
            .as_str()
            .unwrap()
            .contains("pinned by this datasource's first tunnel"),
        "{sync}"
    );
    // The bastion comes back on the same port with another host key.
    let port = bastion.stop();
    let _impostor = ssh::Sshd::on(port, "ssh_host_alt_key").await;
    let sync = app.sync_and_wait("pinned").await;
    assert_eq!(sync["status"], "failed", "{sync}");
    assert_eq!(sync["error"]["code"], "CREDENTIAL_TEST_FAILED");
    let second = ssh::fingerprint("ssh_host_alt_key");
    let message = sync["error"]["message"].as_str().unwrap();
    assert_eq!(
        message,
        format!(
            "tunnel: the bastion 127.0.0.1:{port} presented host key {second}, not the expected {first}"
        )
    );
    assert!(
        sync["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("hostKeyFingerprint"),
        "{sync}"
    );
    drop_pg_schema(&schema).await;
    app.stop().await;
}

#[tokio::test]
async fn a_given_fingerprint_is_checked_from_the_first_connection() {
    let app = spawn_app().await;
    let schema = unique("s");
    pg_schema(&schema).await;
    let mut credentials = pg_credentials("given", &schema);
    credentials["tunnel"] = ssh::with_password(ssh::PORT);
    credentials["tunnel"]["hostKeyFingerprint"] = json!(ssh::fingerprint("ssh_host_alt_key"));
    let job = app
        .fails_with(&body("postgres", credentials.clone()), "presented host key")
        .await;
    assert_eq!(job["error"]["code"], "CREDENTIAL_TEST_FAILED");
    credentials["name"] = json!("given-right");
    credentials["tunnel"]["hostKeyFingerprint"] = json!(ssh::fingerprint("ssh_host_ed25519_key"));
    let job = app.create_and_wait(&body("postgres", credentials)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    assert!(
        step(&job, "tunnel")["message"]
            .as_str()
            .unwrap()
            .contains("the one the credentials give"),
        "{job}"
    );
    drop_pg_schema(&schema).await;
    app.stop().await;
}
