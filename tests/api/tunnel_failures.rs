//! Each way a tunnel fails, with its own message: the bastion unreachable, the login
//! refused (with the methods it offers), a key that cannot be read, the channel
//! refused by the bastion, the bastion refused by the egress policy, and a tunnel
//! that drops mid-discovery (the next job opens a new one).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use crate::helpers::proxy::{Proxy, closed_port};
use crate::helpers::targets::*;
use crate::helpers::{body, spawn_app, spawn_with, ssh, unique};
use crate::tunnels::step;

fn pg_through(name: &str, schema: &str, tunnel: Value) -> Value {
    let mut credentials = pg_credentials(name, schema);
    credentials["tunnel"] = tunnel;
    body("postgres", credentials)
}

#[tokio::test]
async fn an_unreachable_bastion_and_refused_logins_fail_the_tunnel_step_precisely() {
    let app = spawn_app().await;
    let schema = unique("s");
    pg_schema(&schema).await;
    let port = closed_port().await;
    let job = app
        .fails_with(
            &pg_through("nobody", &schema, ssh::with_password(port)),
            &format!("tunnel: the bastion 127.0.0.1:{port} is unreachable"),
        )
        .await;
    assert_eq!(step(&job, "tunnel")["status"], "failed");
    assert_eq!(step(&job, "connect")["status"], "skipped");

    let mut wrong = ssh::with_password(ssh::PORT);
    wrong["password"] = json!("not-the-password");
    app.fails_with(
        &pg_through("wrong-pw", &schema, wrong),
        "tunnel: the bastion 127.0.0.1:2222 refused password authentication as onramp_tpw; it offers password",
    )
    .await;
    app.fails_with(
        &pg_through("stranger", &schema, ssh::with_key("id_stranger")),
        "tunnel: the bastion 127.0.0.1:2222 refused key authentication as onramp_tkey; it offers publickey",
    )
    .await;
    app.fails_with(
        &pg_through("no-phrase", &schema, ssh::with_key("id_ed25519_enc")),
        "tunnel: tunnel.privateKey is encrypted: give its passphrase",
    )
    .await;
    let mut bad_phrase = ssh::with_key("id_ed25519_enc");
    bad_phrase["passphrase"] = json!("not-it");
    let job = app
        .fails_with(
            &pg_through("bad-phrase", &schema, bad_phrase),
            "tunnel: tunnel.privateKey could not be decrypted with the passphrase given",
        )
        .await;
    assert!(!job.to_string().contains("not-it"), "{job}");
    drop_pg_schema(&schema).await;
    app.stop().await;
}

#[tokio::test]
async fn a_channel_the_bastion_refuses_is_named_for_sockets_forwards_and_http() {
    let app = spawn_app().await;
    let schema = unique("s");
    pg_schema(&schema).await;
    // onramp_tpw may open channels only to the ports its PermitOpen lists.
    let mut credentials = pg_credentials("pg-prohibited", &schema);
    credentials["port"] = json!(5999);
    credentials["tunnel"] = ssh::with_password(ssh::PORT);
    let prohibited = "could not open a channel to 127.0.0.1:5999: administratively prohibited";
    app.fails_with(&body("postgres", credentials), prohibited)
        .await;
    // mysql dials a loopback forward; the bastion's refusal still reaches the job.
    let mut credentials = mysql_credentials("my-prohibited", "test");
    credentials["port"] = json!(5999);
    credentials["tunnel"] = ssh::with_password(ssh::PORT);
    app.fails_with(&body("mysql", credentials), prohibited)
        .await;
    // And so does an HTTP client through the SOCKS front.
    let mut credentials = clickhouse_credentials("ch-prohibited", "default");
    credentials["port"] = json!(5999);
    credentials["tunnel"] = ssh::with_password(ssh::PORT);
    app.fails_with(&body("clickhouse", credentials), prohibited)
        .await;
    // onramp_tkey may open any channel; nothing listens there.
    let port = closed_port().await;
    let mut credentials = pg_credentials("pg-nothing", &schema);
    credentials["port"] = json!(port);
    credentials["tunnel"] = ssh::with_key("id_ed25519");
    let job = app
        .fails_with(
            &body("postgres", credentials),
            &format!("connect: the bastion 127.0.0.1:2222 could not open a channel to 127.0.0.1:{port}: connect failed"),
        )
        .await;
    assert_eq!(step(&job, "tunnel")["status"], "passed");
    drop_pg_schema(&schema).await;
    app.stop().await;
}

#[tokio::test]
async fn the_bastion_goes_through_the_egress_policy_and_the_target_behind_it_does_not() {
    let app = spawn_with(|s| s.egress_deny = "127.0.0.2/32".into()).await;
    let schema = unique("s");
    let mut tunnel = ssh::with_password(ssh::PORT);
    tunnel["host"] = json!("127.0.0.2");
    let response = app
        .post_datasource(&pg_through("denied-bastion", &schema, tunnel))
        .await;
    assert_eq!(response.status(), 400);
    let answer: Value = response.json().await.unwrap();
    let detail = &answer["error"]["details"][0];
    assert_eq!(detail["field"], "credentials.tunnel.host", "{answer}");
    assert!(
        detail["problem"]
            .as_str()
            .unwrap()
            .contains("refused by the egress policy"),
        "{answer}"
    );
    // The same address as the target is the bastion's business: accepted, and the
    // bastion (not onramp) tried it.
    let mut credentials = pg_credentials("behind", &schema);
    credentials["host"] = json!("127.0.0.2");
    credentials["tunnel"] = ssh::with_key("id_ed25519");
    app.fails_with(
        &body("postgres", credentials),
        "connect: the bastion 127.0.0.1:2222 could not open a channel to 127.0.0.2:5432",
    )
    .await;
    app.stop().await;
}

/// A relay to PostgreSQL that stops passing the server's answers once the client
/// has sent `needle` (the first time only), and says when.
async fn stalling_postgres(needle: &'static [u8]) -> (u16, Arc<tokio::sync::Notify>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let stalled = Arc::new(tokio::sync::Notify::new());
    let used = Arc::new(AtomicBool::new(false));
    let signal = stalled.clone();
    tokio::spawn(async move {
        while let Ok((client, _)) = listener.accept().await {
            let server = TcpStream::connect("127.0.0.1:5432").await.unwrap();
            let (mut cr, mut cw) = client.into_split();
            let (mut sr, mut sw) = server.into_split();
            let hold = Arc::new(AtomicBool::new(false));
            let (h, u, s) = (hold.clone(), used.clone(), signal.clone());
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n @ 1..) = cr.read(&mut buf).await {
                    let chunk = &buf[..n];
                    if chunk.windows(needle.len()).any(|w| w == needle)
                        && !u.swap(true, Ordering::SeqCst)
                    {
                        h.store(true, Ordering::SeqCst);
                        s.notify_one();
                    }
                    if sw.write_all(chunk).await.is_err() {
                        break;
                    }
                }
            });
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n @ 1..) = sr.read(&mut buf).await {
                    while hold.load(Ordering::SeqCst) {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                    }
                    if cw.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    (port, stalled)
}

#[tokio::test]
async fn a_tunnel_that_drops_mid_discovery_fails_the_job_and_the_next_job_opens_a_new_one() {
    let app = spawn_with(|s| s.discover_timeout = Duration::from_secs(20)).await;
    let schema = unique("s");
    pg_schema(&schema).await;
    // The bastion through a proxy the test cuts; the target through a relay that
    // holds discovery's first catalog answer until then.
    let bastion = Proxy::start(&format!("127.0.0.1:{}", ssh::PORT)).await;
    let (target, stalled) = stalling_postgres(b"pg_catalog.pg_class").await;
    let mut tunnel = ssh::with_key("id_ed25519");
    tunnel["port"] = json!(bastion.port);
    let mut credentials = pg_credentials("dropped", &schema);
    credentials["port"] = json!(target);
    credentials["tunnel"] = tunnel;
    let accepted = app.accept(&body("postgres", credentials)).await;
    tokio::time::timeout(Duration::from_secs(20), stalled.notified())
        .await
        .expect("discovery reached the catalog");
    bastion.cut();
    let job = app
        .wait_for_job(accepted["jobId"].as_str().unwrap(), Duration::from_secs(30))
        .await;
    assert_eq!(job["status"], "failed", "{job}");
    assert_eq!(step(&job, "connect")["status"], "passed", "{job}");
    assert_eq!(step(&job, "discover")["status"], "failed", "{job}");
    let message = job["error"]["message"].as_str().unwrap();
    // Noticed when the connection went, not at the discover step's timeout.
    assert!(!message.contains("timed out"), "{job}");
    let took = step(&job, "discover")["durationMs"].as_u64().unwrap();
    assert!(took < 10_000, "the drop was noticed after {took} ms: {job}");
    assert!(
        message.starts_with(&format!(
            "discover: the ssh tunnel through 127.0.0.1:{} closed",
            bastion.port
        )),
        "{job}"
    );
    assert!(
        job["error"]["hint"]
            .as_str()
            .unwrap()
            .contains("sync the datasource again"),
        "{job}"
    );
    bastion.restore();
    let sync = app.sync_and_wait("dropped").await;
    assert_eq!(sync["status"], "succeeded", "{sync}");
    assert_eq!(step(&sync, "tunnel")["status"], "passed");
    drop_pg_schema(&schema).await;
    app.stop().await;
}
