//! The TLS policy over HTTP, against Debian's clickhouse-server serving HTTPS on
//! 18443 and against osmem-server (OpenSearch's REST API) behind a TLS front the test
//! runs, both with the certificates of `tests/servers/tls/make_certs.py` (the server's
//! names only localhost and is issued by the test CA).

use serde_json::{Value, json};

use crate::helpers::tls_front::tls_front;
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

fn search(name: &str, url: String, tls: Value) -> Value {
    let mut c = json!({"name": name, "url": url, "indexPattern": "onramp-none-*"});
    for (k, v) in tls.as_object().unwrap() {
        c[k] = v.clone();
    }
    body("opensearch", c)
}

#[tokio::test]
async fn opensearch_over_https_verifies_as_the_mode_says_with_its_own_ca_and_client_certificate() {
    let app = spawn_app().await;
    let (port, _front) = tls_front("127.0.0.1:19200", false).await;
    let (ca, other_ca) = (pem("ca.pem"), pem("other-ca.pem"));
    let at = |host: &str| format!("https://{host}:{port}");
    for (name, host, tls) in [
        ("require", "127.0.0.1", json!({"sslMode": "require"})),
        ("verify-full", "localhost", json!({"caCertificate": ca})),
        (
            "verify-ca",
            "127.0.0.1",
            json!({"sslMode": "verify-ca", "caCertificate": ca}),
        ),
    ] {
        let job = app.create_and_wait(&search(name, at(host), tls)).await;
        assert_eq!(job["status"], "succeeded", "{name}: {job}");
    }
    let job = app
        .fails_with(
            &search(
                "other-ca",
                at("localhost"),
                json!({"caCertificate": other_ca}),
            ),
            "the certificate is not trusted",
        )
        .await;
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap()
            .contains("CN=localhost, SHA-256 fingerprint"),
        "{job}"
    );
    app.fails_with(
        &search("wrong-name", at("127.0.0.1"), json!({"caCertificate": ca})),
        "the certificate's names do not include 127.0.0.1",
    )
    .await;

    // A front that requires a client certificate from the test CA.
    let (mutual, _front) = tls_front("127.0.0.1:19200", true).await;
    let url = format!("https://localhost:{mutual}");
    let job = app
        .create_and_wait(&search(
            "no-client-cert",
            url.clone(),
            json!({"caCertificate": ca}),
        ))
        .await;
    assert_eq!(job["status"], "failed", "{job}");
    assert!(
        job["error"]["message"]
            .as_str()
            .unwrap()
            .contains("the server refused the client certificate"),
        "{job}"
    );
    let with_cert = json!({"caCertificate": ca, "clientCertificate": pem("client.pem"), "clientKey": pem("client.key")});
    let job = app
        .create_and_wait(&search("client-cert", url, with_cert))
        .await;
    assert_eq!(job["status"], "succeeded", "{job}");

    // The scheme chooses TLS: a mode that contradicts it is refused at the API.
    for (url, mode) in [
        ("http://localhost:19200".to_string(), "verify-full"),
        (at("localhost"), "disable"),
    ] {
        let r = app
            .post_datasource(&search("contradiction", url, json!({"sslMode": mode})))
            .await;
        assert_eq!(r.status(), 400);
        let answer: Value = r.json().await.unwrap();
        assert_eq!(
            answer["error"]["details"][0]["field"], "credentials.sslMode",
            "{answer}"
        );
    }
    app.stop().await;
}
