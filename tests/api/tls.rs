//! The TLS policy against PostgreSQL clusters and a MariaDB with SSL on, made by
//! `scripts/test-servers.sh` with certificates of `tests/servers/tls/make_certs.py`:
//! each mode, a wrong CA, a wrong name, an expired certificate, no TLS offered, and
//! a client certificate required, missing, from the wrong CA and present.

use serde_json::{Value, json};

use crate::helpers::{TestApp, body, spawn_app};

const CERTS: &str = "/var/lib/onramp-tls";
const PG_TLS: u16 = 5434;
const PG_EXPIRED: u16 = 5435;
const PG_PLAIN: u16 = 5436;
const MARIADB_TLS: u16 = 3307;
const MARIADB_PLAIN: u16 = 3306;

fn pem(name: &str) -> String {
    std::fs::read_to_string(format!("{CERTS}/{name}")).expect("the test script made it")
}

/// The server certificate's SHA-256 fingerprint as `openssl x509 -fingerprint` prints it.
fn openssl_fingerprint(cert: &str) -> String {
    let out = std::process::Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256", "-in"])
        .arg(format!("{CERTS}/{cert}"))
        .output()
        .expect("openssl runs");
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .rsplit('=')
        .next()
        .unwrap()
        .to_string()
}

fn pg(name: &str, host: &str, port: u16, user: &str, tls: Value) -> Value {
    let mut c = json!({"name": name, "host": host, "port": port, "username": user,
                       "database": "postgres"});
    for (k, v) in tls.as_object().unwrap() {
        c[k] = v.clone();
    }
    body("postgres", c)
}

fn my(name: &str, host: &str, port: u16, user: &str, tls: Value) -> Value {
    let mut c = json!({"name": name, "host": host, "port": port, "username": user,
                       "password": if port == MARIADB_TLS { "onramp-tls" } else { "" },
                       "database": if port == MARIADB_TLS { "tls_test" } else { "test" }});
    for (k, v) in tls.as_object().unwrap() {
        c[k] = v.clone();
    }
    body("mysql", c)
}

async fn succeeds(app: &TestApp, request: &Value) {
    let job = app.create_and_wait(request).await;
    assert_eq!(job["status"], "succeeded", "{request}: {job}");
}

#[tokio::test]
async fn each_postgres_ssl_mode_does_what_it_says() {
    let app = spawn_app().await;
    let ca = pem("ca.pem");
    for (name, host, port, tls) in [
        (
            "disable",
            "127.0.0.1",
            PG_TLS,
            json!({"sslMode": "disable"}),
        ),
        // prefer and require encrypt without checking: the test CA is not given.
        ("prefer", "127.0.0.1", PG_TLS, json!({"sslMode": "prefer"})),
        (
            "require",
            "127.0.0.1",
            PG_TLS,
            json!({"sslMode": "require"}),
        ),
        ("enable", "127.0.0.1", PG_TLS, json!({"sslMode": "enable"})),
        // verify-ca checks the chain, not the name (the certificate names only localhost).
        (
            "verify-ca",
            "127.0.0.1",
            PG_TLS,
            json!({"sslMode": "verify-ca", "caCertificate": ca}),
        ),
        (
            "verify-full",
            "localhost",
            PG_TLS,
            json!({"sslMode": "verify-full", "caCertificate": ca}),
        ),
        // prefer falls back to plain where no TLS is offered.
        (
            "prefer-plain",
            "127.0.0.1",
            PG_PLAIN,
            json!({"sslMode": "prefer"}),
        ),
    ] {
        succeeds(&app, &pg(name, host, port, "postgres", tls)).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn each_postgres_tls_failure_names_what_failed_and_the_certificate() {
    let app = spawn_app().await;
    let ca = pem("ca.pem");
    let shown = format!(
        "the server presented O=onramp tests, CN=localhost, SHA-256 fingerprint {}",
        openssl_fingerprint("server.pem")
    );
    let cases = [
        (
            "wrong-name",
            "127.0.0.1",
            PG_TLS,
            json!({"sslMode": "verify-full", "caCertificate": ca}),
            format!(
                "connect: tls handshake with 127.0.0.1 failed: the certificate's names do not include 127.0.0.1; {shown}"
            ),
        ),
        (
            "wrong-ca",
            "localhost",
            PG_TLS,
            json!({"sslMode": "verify-ca", "caCertificate": pem("other-ca.pem")}),
            format!(
                "connect: tls handshake with localhost failed: the certificate is not trusted (not issued by the given caCertificate, or by a public authority when none is given); {shown}"
            ),
        ),
        (
            "public-roots",
            "localhost",
            PG_TLS,
            json!({"sslMode": "verify-full"}),
            "the certificate is not trusted".to_string(),
        ),
        (
            "expired",
            "localhost",
            PG_EXPIRED,
            json!({"sslMode": "verify-full", "caCertificate": ca}),
            format!(
                "connect: tls handshake with localhost failed: the certificate has expired; the server presented O=onramp tests, CN=localhost, SHA-256 fingerprint {}",
                openssl_fingerprint("expired.pem")
            ),
        ),
        (
            "no-tls",
            "127.0.0.1",
            PG_PLAIN,
            json!({"sslMode": "require"}),
            "server does not support TLS".to_string(),
        ),
    ];
    for (name, host, port, tls, needle) in cases {
        let job = app
            .fails_with(&pg(name, host, port, "postgres", tls), &needle)
            .await;
        assert_eq!(job["error"]["code"], "CREDENTIAL_TEST_FAILED", "{job}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_postgres_client_certificate_is_required_refused_and_accepted() {
    let app = spawn_app().await;
    let ca = pem("ca.pem");
    let verified = |extra: Value| {
        let mut tls = json!({"sslMode": "verify-full", "caCertificate": ca});
        for (k, v) in extra.as_object().unwrap() {
            tls[k] = v.clone();
        }
        tls
    };
    app.fails_with(
        &pg("missing", "localhost", PG_TLS, "onramp_cert", verified(json!({}))),
        "connect: the server refused the client certificate: connection requires a valid client certificate",
    )
    .await;
    let stranger =
        json!({"clientCertificate": pem("stranger.pem"), "clientKey": pem("stranger.key")});
    app.fails_with(
        &pg(
            "stranger",
            "localhost",
            PG_TLS,
            "onramp_cert",
            verified(stranger),
        ),
        "connect: tls handshake with localhost failed: the server refused the client certificate",
    )
    .await;
    let client = json!({"clientCertificate": pem("client.pem"), "clientKey": pem("client.key")});
    succeeds(
        &app,
        &pg(
            "present",
            "localhost",
            PG_TLS,
            "onramp_cert",
            verified(client),
        ),
    )
    .await;
    // The key is a secret: never shown.
    let shown = app
        .get("/api/v2/datasource/present")
        .await
        .text()
        .await
        .unwrap();
    assert!(!shown.contains("PRIVATE KEY"), "{shown}");
    assert!(shown.contains("BEGIN CERTIFICATE"), "{shown}");
    app.stop().await;
}

#[tokio::test]
async fn tls_fields_that_cannot_work_are_refused_at_the_api() {
    let app = spawn_app().await;
    for (tls, field) in [
        (
            json!({"sslMode": "require", "caCertificate": pem("ca.pem")}),
            "credentials.caCertificate",
        ),
        (
            json!({"sslMode": "verify-full", "caCertificate": "not pem"}),
            "credentials.caCertificate",
        ),
        (
            json!({"sslMode": "verify-full", "clientCertificate": pem("client.pem")}),
            "credentials.clientKey",
        ),
        (
            json!({"sslMode": "disable", "clientCertificate": pem("client.pem"), "clientKey": pem("client.key")}),
            "credentials.clientCertificate",
        ),
    ] {
        let r = app
            .post_datasource(&pg("refused", "localhost", PG_TLS, "postgres", tls.clone()))
            .await;
        assert_eq!(r.status(), 400, "{tls}");
        let answer: Value = r.json().await.unwrap();
        let fields: Vec<&str> = answer["error"]["details"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|d| d["field"].as_str())
            .collect();
        assert!(fields.contains(&field), "{tls}: {answer}");
    }
    app.stop().await;
}

#[tokio::test]
async fn each_mysql_ssl_mode_and_failure_against_mariadb() {
    let app = spawn_app().await;
    let ca = pem("ca.pem");
    for (name, host, port, tls) in [
        (
            "disable",
            "127.0.0.1",
            MARIADB_TLS,
            json!({"sslMode": "disable"}),
        ),
        (
            "require",
            "127.0.0.1",
            MARIADB_TLS,
            json!({"sslMode": "require"}),
        ),
        (
            "verify-ca",
            "127.0.0.1",
            MARIADB_TLS,
            json!({"sslMode": "verify-ca", "caCertificate": ca}),
        ),
        (
            "verify-full",
            "localhost",
            MARIADB_TLS,
            json!({"sslMode": "verify-full", "caCertificate": ca}),
        ),
        (
            "prefer-plain",
            "127.0.0.1",
            MARIADB_PLAIN,
            json!({"sslMode": "prefer"}),
        ),
    ] {
        let user = if port == MARIADB_PLAIN {
            "root"
        } else {
            "onramp"
        };
        succeeds(&app, &my(name, host, port, user, tls)).await;
    }
    let shown = format!(
        "the server presented O=onramp tests, CN=localhost, SHA-256 fingerprint {}",
        openssl_fingerprint("server.pem")
    );
    app.fails_with(
        &my("wrong-name", "127.0.0.1", MARIADB_TLS, "onramp", json!({"sslMode": "verify-full", "caCertificate": ca})),
        &format!("connect: tls handshake with 127.0.0.1 failed: the certificate's names do not include 127.0.0.1; {shown}"),
    )
    .await;
    app.fails_with(
        &my("wrong-ca", "localhost", MARIADB_TLS, "onramp", json!({"sslMode": "verify-ca", "caCertificate": pem("other-ca.pem")})),
        &format!("connect: tls handshake with localhost failed: the certificate is not trusted (not issued by the given caCertificate, or by a public authority when none is given); {shown}"),
    )
    .await;
    app.fails_with(
        &my(
            "no-tls",
            "127.0.0.1",
            MARIADB_PLAIN,
            "root",
            json!({"sslMode": "require"}),
        ),
        "the server does not support TLS",
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_mariadb_user_that_requires_x509_needs_the_client_certificate() {
    let app = spawn_app().await;
    let tls = json!({"sslMode": "verify-full", "caCertificate": pem("ca.pem")});
    app.fails_with(
        &my(
            "missing",
            "localhost",
            MARIADB_TLS,
            "onramp_x509",
            tls.clone(),
        ),
        "connect: login as onramp_x509 was refused",
    )
    .await;
    let mut with_cert = tls;
    with_cert["clientCertificate"] = json!(pem("client.pem"));
    with_cert["clientKey"] = json!(pem("client.key"));
    succeeds(
        &app,
        &my(
            "present",
            "localhost",
            MARIADB_TLS,
            "onramp_x509",
            with_cert,
        ),
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_deployment_minimum_refuses_weaker_tls_at_the_api() {
    let app =
        crate::helpers::spawn_with(|s| s.minimum_ssl_mode = onramp::egress::tls::SslMode::Require)
            .await;
    for (request, field) in [
        (
            pg(
                "weak",
                "localhost",
                PG_TLS,
                "postgres",
                json!({"sslMode": "prefer"}),
            ),
            "credentials.sslMode",
        ),
        // mysql's default (ssl false) is plain.
        (
            my("weak-my", "localhost", MARIADB_TLS, "onramp", json!({})),
            "credentials.sslMode",
        ),
    ] {
        let r = app.post_datasource(&request).await;
        assert_eq!(r.status(), 400, "{request}");
        let answer: Value = r.json().await.unwrap();
        let detail = &answer["error"]["details"][0];
        assert_eq!(detail["field"], field, "{answer}");
        assert!(
            detail["problem"]
                .as_str()
                .unwrap()
                .contains("use require or stronger"),
            "{answer}"
        );
    }
    succeeds(
        &app,
        &pg(
            "strong",
            "127.0.0.1",
            PG_TLS,
            "postgres",
            json!({"sslMode": "require"}),
        ),
    )
    .await;
    app.stop().await;
}
