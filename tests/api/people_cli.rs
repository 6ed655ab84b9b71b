//! The people's CLI (`onramp create`, `jobs watch`, `datasources`, `schema`,
//! `webhooks`) as a subprocess against a running API: plain lines without a
//! terminal, redrawn steps under a pseudo-terminal (util-linux `script`), and exit
//! codes that say whose fault a failure was.

use std::path::PathBuf;

use serde_json::{Value, json};

use crate::helpers::targets::{pg_credentials, pg_schema};
use crate::helpers::{TestApp, spawn_app, unique};

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

impl Run {
    fn of(out: std::process::Output) -> Run {
        Run {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

async fn onramp(app: &TestApp, token: &str, args: &[&str]) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_onramp"))
        .args(args)
        .env("ONRAMP_API_URL", &app.address)
        .env("ONRAMP_TOKEN", token)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    Run::of(out)
}

/// The same under a pseudo-terminal: `script` gives the command a pty as its
/// standard output and returns its exit code (`-e`).
async fn onramp_on_a_terminal(app: &TestApp, args: &[&str]) -> Run {
    let command = std::iter::once(env!("CARGO_BIN_EXE_onramp"))
        .chain(args.iter().copied())
        .map(|a| format!("'{}'", a.replace('\'', r"'\''")))
        .collect::<Vec<_>>()
        .join(" ");
    let out = tokio::process::Command::new("script")
        .args(["-qefc", &command, "/dev/null"])
        .env("ONRAMP_API_URL", &app.address)
        .env("ONRAMP_TOKEN", &app.token)
        .stdin(std::process::Stdio::null())
        .output()
        .await
        .unwrap();
    Run::of(out)
}

fn credentials_file(value: &Value) -> PathBuf {
    let dir = std::env::temp_dir().join(unique("cli"));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("credentials.json");
    std::fs::write(&path, value.to_string()).unwrap();
    path
}

#[tokio::test]
async fn create_wait_shows_each_step_in_plain_lines_and_the_commands_read_what_it_made() {
    let app = spawn_app().await;
    let schema = unique("s");
    pg_schema(&schema).await;
    let creds = credentials_file(&pg_credentials("cli-made", &schema));
    let creds = creds.to_str().unwrap();
    let run = onramp(
        &app,
        &app.token,
        &[
            "create",
            "--type",
            "postgres",
            "--credentials",
            creds,
            "--wait",
        ],
    )
    .await;
    assert_eq!(run.code, 0, "{}\n{}", run.stdout, run.stderr);
    for line in [
        "validate passed",
        "connect passed",
        "discover passed",
        "cache passed",
    ] {
        assert!(run.stdout.contains(line), "{line} in {}", run.stdout);
    }
    assert!(run.stdout.contains("succeeded: 3 tables"), "{}", run.stdout);
    assert!(
        !run.stdout.contains('\u{1b}'),
        "no terminal escapes in a pipe: {:?}",
        run.stdout
    );
    assert!(
        run.stderr.contains("accepted: datasource cli-made"),
        "{}",
        run.stderr
    );

    let list = onramp(&app, &app.token, &["datasources", "list"]).await;
    assert_eq!(list.code, 0, "{}", list.stderr);
    let lines: Vec<&str> = list.stdout.lines().collect();
    assert!(
        lines[0].starts_with("NAME") && lines[0].contains("STATUS"),
        "{}",
        list.stdout
    );
    assert!(
        lines[1].starts_with("cli-made")
            && lines[1].contains("postgres")
            && lines[1].contains("ready"),
        "{}",
        list.stdout
    );
    let listed: Value = serde_json::from_str(
        &onramp(&app, &app.token, &["datasources", "list", "--json"])
            .await
            .stdout,
    )
    .unwrap();
    assert_eq!(listed[0]["name"], "cli-made");

    let schema_run = onramp(&app, &app.token, &["schema", "cli-made"]).await;
    assert_eq!(schema_run.code, 0, "{}", schema_run.stderr);
    assert!(
        schema_run.stdout.starts_with("DATABASE"),
        "{}",
        schema_run.stdout
    );
    assert!(schema_run.stdout.contains(&schema), "{}", schema_run.stdout);
    assert!(
        schema_run.stdout.contains("3 tables"),
        "{}",
        schema_run.stdout
    );
    let snapshot: Value = serde_json::from_str(
        &onramp(&app, &app.token, &["schema", "cli-made", "--json"])
            .await
            .stdout,
    )
    .unwrap();
    assert_eq!(snapshot["stats"]["tables"], 3);

    let sync = onramp(
        &app,
        &app.token,
        &["datasources", "sync", "cli-made", "--wait"],
    )
    .await;
    assert_eq!(sync.code, 0, "{}\n{}", sync.stdout, sync.stderr);
    assert!(sync.stdout.contains("succeeded"), "{}", sync.stdout);

    let hook = onramp(
        &app,
        &app.token,
        &[
            "webhooks",
            "create",
            "--url",
            "https://hooks.example/x",
            "--events",
            "datasource.ready",
        ],
    )
    .await;
    assert_eq!(hook.code, 0, "{}", hook.stderr);
    assert!(hook.stdout.trim().starts_with("whsec_"), "{}", hook.stdout);
    let hooks = onramp(&app, &app.token, &["webhooks", "list"]).await;
    assert!(
        hooks.stdout.contains("https://hooks.example/x") && hooks.stdout.contains("enabled"),
        "{}",
        hooks.stdout
    );

    let deleted = onramp(&app, &app.token, &["datasources", "delete", "cli-made"]).await;
    assert_eq!(deleted.code, 0, "{}", deleted.stderr);
    // Gone: the request names nothing there, the caller's fault.
    let gone = onramp(&app, &app.token, &["datasources", "get", "cli-made"]).await;
    assert_eq!(gone.code, 2, "{}", gone.stderr);
    assert!(
        gone.stderr.contains("DATASOURCE_NOT_FOUND"),
        "{}",
        gone.stderr
    );
    app.stop().await;
}

#[tokio::test]
async fn on_a_terminal_the_steps_are_redrawn_in_place_and_a_target_failure_exits_1_with_its_hint() {
    let app = spawn_app().await;
    let schema = unique("s");
    pg_schema(&schema).await;
    let mut bad = pg_credentials("cli-bad", &schema);
    bad["username"] = json!(unique("nobody"));
    let creds = credentials_file(&bad);
    let run = onramp_on_a_terminal(
        &app,
        &[
            "create",
            "--type",
            "postgres",
            "--credentials",
            creds.to_str().unwrap(),
            "--wait",
        ],
    )
    .await;
    assert_eq!(run.code, 1, "{}\n{}", run.stdout, run.stderr);
    // Cursor moves and colours: the block of steps drawn again, not appended.
    assert!(run.stdout.contains("\u{1b}[2K"), "{:?}", run.stdout);
    assert!(run.stdout.contains("\u{1b}["), "{:?}", run.stdout);
    assert!(
        run.stdout.contains('✓') && run.stdout.contains('✗'),
        "{:?}",
        run.stdout
    );
    assert!(
        run.stdout.contains("failed: CREDENTIAL_TEST_FAILED"),
        "{:?}",
        run.stdout
    );
    assert!(run.stdout.contains("hint: "), "{:?}", run.stdout);

    // The same without a terminal: plain lines, the same exit code.
    let plain = onramp(
        &app,
        &app.token,
        &[
            "create",
            "--type",
            "postgres",
            "--credentials",
            creds.to_str().unwrap(),
            "--name",
            "cli-bad-2",
            "--wait",
        ],
    )
    .await;
    assert_eq!(plain.code, 1, "{}", plain.stdout);
    assert!(plain.stdout.contains("connect failed"), "{}", plain.stdout);
    app.stop().await;
}

#[tokio::test]
async fn exit_codes_tell_a_refused_request_from_an_onramp_that_is_not_there() {
    let app = spawn_app().await;
    // An unknown token: refused (2), with the API's message.
    let refused = onramp(&app, "not-a-token", &["datasources", "list"]).await;
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(
        refused.stderr.contains("AUTHENTICATION_ERROR"),
        "{}",
        refused.stderr
    );
    // A body the API refuses names its fields.
    let creds = credentials_file(&json!({"name": "x", "port": "nope"}));
    let invalid = onramp(
        &app,
        &app.token,
        &[
            "create",
            "--type",
            "postgres",
            "--credentials",
            creds.to_str().unwrap(),
        ],
    )
    .await;
    assert_eq!(invalid.code, 2, "{}", invalid.stderr);
    assert!(invalid.stderr.contains("port"), "{}", invalid.stderr);
    // No token at all.
    let none = onramp(&app, "", &["datasources", "list"]).await;
    assert_eq!(none.code, 2, "{}", none.stderr);
    assert!(none.stderr.contains("ONRAMP_TOKEN"), "{}", none.stderr);
    // Nothing listens there: onramp's failure (3).
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        drop(listener);
        port
    };
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_onramp"))
        .args(["jobs", "watch", "01a23c52-4090-74a0-b101-7bde191a351d"])
        .env("ONRAMP_API_URL", format!("http://127.0.0.1:{closed}"))
        .env("ONRAMP_TOKEN", &app.token)
        .output()
        .await
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stderr).contains("could not be reached"));
    app.stop().await;
}
