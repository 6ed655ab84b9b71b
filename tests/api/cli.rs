//! The command line: `onramp discover`, and `onramp serve` with no secret key.

use std::time::Duration;

use serde_json::Value;

use crate::helpers::targets::*;
use crate::helpers::{cleanup, test_settings, unique};

async fn discover(credentials: &std::path::Path) -> std::process::Output {
    tokio::process::Command::new(env!("CARGO_BIN_EXE_onramp"))
        .args(["discover", "--type", "postgres", "--credentials"])
        .arg(credentials)
        .output()
        .await
        .unwrap()
}

#[tokio::test]
async fn discover_prints_the_snapshot_and_explains_a_failure() {
    let schema = unique("s");
    pg_schema(&schema).await;
    let dir = std::env::temp_dir().join(unique("discover"));
    std::fs::create_dir_all(&dir).unwrap();
    let creds = dir.join("creds.json");
    let mut c = pg_credentials("cli", &schema);
    c.as_object_mut().unwrap().remove("name");
    std::fs::write(&creds, c.to_string()).unwrap();
    let out = discover(&creds).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let snapshot: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(snapshot["stats"]["tables"], 3);

    c["database"] = "no_such_database".into();
    std::fs::write(&creds, c.to_string()).unwrap();
    let out = discover(&creds).await;
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("connect: database no_such_database does not exist")
            && stderr.contains("hint:"),
        "{stderr}"
    );
    drop_pg_schema(&schema).await;
}

#[tokio::test]
async fn serve_without_a_secret_key_makes_a_development_key_and_says_so() {
    let id = unique("t");
    let mut settings = test_settings(&id);
    settings.secret_key = None;
    let port = crate::helpers::proxy::closed_port().await;
    let dir = std::env::temp_dir().join(&id);
    std::fs::create_dir_all(&dir).unwrap();
    let mut child = tokio::process::Command::new(env!("CARGO_BIN_EXE_onramp"))
        .arg("serve")
        .current_dir(&dir)
        .env("ONRAMP_DATABASE_URL", settings.database_url.expose())
        .env("ONRAMP_PREFIX", &settings.prefix)
        .env("ONRAMP_HTTP_ADDR", format!("127.0.0.1:{port}"))
        .env_remove("ONRAMP_SECRET_KEY")
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let mut up = false;
    for _ in 0..200 {
        if client
            .get(format!("http://127.0.0.1:{port}/healthz"))
            .send()
            .await
            .is_ok()
        {
            up = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert!(up, "serve did not start");
    let key = std::fs::read_to_string(dir.join(".onramp/dev-secret.key")).unwrap();
    assert!(onramp::storage::crypto::SecretKey::from_base64(&key).is_ok());
    child.start_kill().unwrap();
    let output = child.wait_with_output().await.unwrap();
    let log = String::from_utf8_lossy(&output.stderr);
    assert!(log.contains("NO ONRAMP_SECRET_KEY GIVEN"), "{log}");
    assert!(!log.contains(key.trim()), "the key itself is never logged");
    cleanup(&id, &settings).await;
}

#[tokio::test]
async fn token_create_prints_a_working_token_once_and_revoke_ends_it() {
    let app = crate::helpers::spawn_app().await;
    let run = |args: &[&str]| {
        tokio::process::Command::new(env!("CARGO_BIN_EXE_onramp"))
            .args(args)
            .env("ONRAMP_DATABASE_URL", app.settings.database_url.expose())
            .output()
    };
    let out = run(&["token", "create", "--org", "cli-org"]).await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).unwrap().trim().to_string();
    assert!(token.starts_with("onr_"));
    let stored: Vec<Vec<u8>> = sqlx::query_scalar("SELECT token_hash FROM service_tokens")
        .fetch_all(&app.pool)
        .await
        .unwrap();
    assert!(
        stored
            .iter()
            .all(|h| !h.windows(token.len()).any(|w| w == token.as_bytes())),
        "only a hash is stored"
    );
    let list = |t: &str| {
        app.client
            .get(app.url("/api/v2/datasource"))
            .bearer_auth(t.to_string())
            .send()
    };
    assert_eq!(list(&token).await.unwrap().status(), 200);
    let out = run(&["token", "revoke", &token]).await.unwrap();
    assert!(out.status.success());
    assert_eq!(list(&token).await.unwrap().status(), 401);
    let again = run(&["token", "revoke", &token]).await.unwrap();
    assert!(!again.status.success(), "revoking twice is an error");
    app.stop().await;
}
