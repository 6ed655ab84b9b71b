//! The TLS policy over HTTP, against Debian's clickhouse-server serving HTTPS on
//! 18443 with the certificate of `tests/servers/tls/make_certs.py` (names only
//! localhost, issued by the test CA).

use serde_json::{Value, json};

use crate::helpers::{body, spawn_app};

const CERTS: &str = "/var/lib/onramp-tls";
const HTTPS: u16 = 18443;

fn pem(name: &str) -> String {
    std::fs::read_to_string(format!("{CERTS}/{name}")).expect("the test script made it")
}

fn ch(name: &str, host: &str, tls: Value) -> Value {
    let mut c = json!({"name": name, "host": host, "port": HTTPS, "database": "default"});
    for (k, v) in tls.as_object().unwrap() {
        c[k] = v.clone();
    }
    body("clickhouse", c)
}

#[tokio::test]
async fn clickhouse_over_https_verifies_as_the_mode_says() {
    let app = spawn_app().await;
    let ca = pem("ca.pem");
    for (name, host, tls) in [
        ("require", "127.0.0.1", json!({"sslMode": "require"})),
        (
            "verify-ca",
            "127.0.0.1",
            json!({"sslMode": "verify-ca", "caCertificate": ca}),
        ),
        (
            "verify-full",
            "localhost",
            json!({"sslMode": "verify-full", "caCertificate": ca}),
        ),
    ] {
        let job = app.create_and_wait(&ch(name, host, tls)).await;
        assert_eq!(job["status"], "succeeded", "{name}: {job}");
    }
    // The old switch verifies against public authorities, which did not issue it.
    let job = app
        .fails_with(
            &ch("switch", "localhost", json!({"ssl": true})),
            "connect: tls handshake with localhost failed: the certificate is not trusted",
        )
        .await;
    let message = job["error"]["message"].as_str().unwrap();
    assert!(
        message.contains("the server presented O=onramp tests, CN=localhost, SHA-256 fingerprint"),
        "{job}"
    );
    app.fails_with(
        &ch("wrong-name", "127.0.0.1", json!({"sslMode": "verify-full", "caCertificate": ca})),
        "connect: tls handshake with 127.0.0.1 failed: the certificate's names do not include 127.0.0.1",
    )
    .await;
    // prefer cannot fall back over HTTP: refused before anything is recorded.
    let r = app
        .post_datasource(&ch("prefer", "localhost", json!({"sslMode": "prefer"})))
        .await;
    assert_eq!(r.status(), 400);
    let answer: Value = r.json().await.unwrap();
    assert_eq!(
        answer["error"]["details"][0]["field"], "credentials.sslMode",
        "{answer}"
    );
    app.stop().await;
}
