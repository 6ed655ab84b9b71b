//! snowflake against fakesnow (Snowflake's connector protocol: login-request,
//! query-request, Arrow IPC results) that scripts/test-servers.sh starts on 18090.
//! fakesnow accepts any login, so credentials go through a front the test runs
//! before it, which answers as Snowflake documents: a password check, and for key
//! pairs a JWT check against the user's public key (signature, iss, sub, exp).

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rsa::{KeyPair, KeySize};
use aws_lc_rs::signature::{KeyPair as _, RSA_PKCS1_2048_8192_SHA256, UnparsedPublicKey};
use axum::body::Bytes;
use axum::extract::{OriginalUri, State};
use axum::http::{HeaderMap, Method};
use axum::response::IntoResponse;
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

use crate::helpers::{body, spawn_app, spawn_for_faults, table, unique};

const FAKESNOW: &str = "http://127.0.0.1:18090";

/// Runs statements in `database` straight on fakesnow, as a fixture.
async fn fixture(database: &str, statements: &[&str]) {
    let client = reqwest::Client::new();
    let login: Value = client
        .post(format!(
            "{FAKESNOW}/session/v1/login-request?databaseName={database}&schemaName=SALES"
        ))
        .json(&json!({"data": {"LOGIN_NAME": "admin", "PASSWORD": "x", "SESSION_PARAMETERS": {}}}))
        .send()
        .await
        .expect("fakesnow runs (scripts/test-servers.sh starts it)")
        .json()
        .await
        .unwrap();
    let token = login["data"]["token"].as_str().unwrap().to_string();
    for sql in statements {
        let answer: Value = client
            .post(format!("{FAKESNOW}/queries/v1/query-request?requestId=1"))
            .header("authorization", format!("Snowflake Token=\"{token}\""))
            .json(&json!({"sqlText": sql}))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(answer["success"], true, "{sql}: {answer}");
    }
}

#[derive(Clone)]
struct Front {
    /// SHA256 fingerprint of the public key registered on user LOADER.
    fingerprint: String,
    public_key: Vec<u8>,
}

fn refused() -> axum::response::Response {
    axum::Json(json!({"data": {"nextAction": "RETRY_LOGIN", "authnMethod": "PASSWORD"}, "code": "390100",
                      "message": "Incorrect username or password was specified.", "success": false}))
    .into_response()
}

fn jwt_ok(front: &Front, token: &str) -> bool {
    let parts: Vec<&str> = token.split('.').collect();
    if parts.len() != 3 {
        return false;
    }
    let verified = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, &front.public_key)
        .verify(
            format!("{}.{}", parts[0], parts[1]).as_bytes(),
            &URL_SAFE_NO_PAD.decode(parts[2]).unwrap_or_default(),
        )
        .is_ok();
    let claims: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).unwrap_or_default())
            .unwrap_or_default();
    let now = chrono::Utc::now().timestamp();
    verified
        && claims["sub"] == "ACME-PROD.LOADER"
        && claims["iss"] == format!("ACME-PROD.LOADER.{}", front.fingerprint)
        && claims["exp"]
            .as_i64()
            .is_some_and(|exp| exp > now && exp <= now + 3600)
}

/// Checks logins, then passes every request on to fakesnow unchanged.
async fn front(
    State(front): State<Front>,
    method: Method,
    OriginalUri(uri): OriginalUri,
    headers: HeaderMap,
    bytes: Bytes,
) -> axum::response::Response {
    if uri.path() == "/session/v1/login-request" {
        let request: Value = serde_json::from_slice(&bytes).unwrap_or_default();
        let data = &request["data"];
        let ok = data["ACCOUNT_NAME"] == "ACME-PROD"
            && data["LOGIN_NAME"]
                .as_str()
                .map(str::to_ascii_uppercase)
                .as_deref()
                == Some("LOADER")
            && match data["AUTHENTICATOR"].as_str() {
                Some("SNOWFLAKE_JWT") => jwt_ok(&front, data["TOKEN"].as_str().unwrap_or("")),
                _ => data["PASSWORD"] == "s3cret",
            };
        if !ok {
            return refused();
        }
    }
    let mut forward = reqwest::Client::new()
        .request(method, format!("{FAKESNOW}{uri}"))
        .body(bytes);
    for name in ["authorization", "content-type", "accept"] {
        if let Some(v) = headers.get(name) {
            forward = forward.header(name, v.as_bytes());
        }
    }
    let answer = forward.send().await.unwrap();
    let status = answer.status();
    (status, answer.bytes().await.unwrap()).into_response()
}

/// The front on a loopback port, and the user's private key as PEM.
async fn start_front() -> (String, String) {
    let key = KeyPair::generate(KeySize::Rsa2048).unwrap();
    let spki = key.public_key().as_der().unwrap();
    let state = Front {
        fingerprint: format!("SHA256:{}", STANDARD.encode(Sha256::digest(spki.as_ref()))),
        public_key: key.public_key().as_ref().to_vec(),
    };
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(front).with_state(state);
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (
        url,
        onramp::connectors::support::rsa_jwt::to_pem("PRIVATE KEY", key.as_der().unwrap().as_ref()),
    )
}

fn credentials(name: &str, endpoint: &str, database: &str) -> Value {
    json!({"name": name, "account": "acme-prod", "user": "loader", "password": "s3cret", "warehouse": "COMPUTE_WH",
           "database": database, "endpoint": endpoint})
}

async fn sales_database() -> String {
    let database = unique("SF").to_uppercase();
    fixture(
        &database,
        &[
            "CREATE TABLE orders (id NUMBER(38,0) NOT NULL, amount NUMBER(10,2), note VARCHAR DEFAULT 'none', placed TIMESTAMP_NTZ)",
            "COMMENT ON TABLE orders IS 'what was bought'",
            "CREATE VIEW v_orders AS SELECT id FROM orders",
        ],
    )
    .await;
    database
}

fn check_orders(snapshot: &Value) {
    assert_eq!(snapshot["datasourceType"], "snowflake");
    let orders = table(snapshot, "ORDERS");
    assert_eq!(orders["comment"], "what was bought");
    let columns: Vec<(&str, &str, u64, bool)> = orders["columns"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["name"].as_str().unwrap(),
                c["type"].as_str().unwrap(),
                c["ordinal"].as_u64().unwrap(),
                c["nullable"].as_bool().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        columns,
        [
            ("ID", "integer", 1, false),
            ("AMOUNT", "decimal", 2, true),
            ("NOTE", "string", 3, true),
            ("PLACED", "timestamp", 4, true)
        ]
    );
    assert_eq!(table(snapshot, "V_ORDERS")["kind"], "view");
}

#[tokio::test]
async fn a_database_is_discovered_over_the_connector_protocol_with_a_password() {
    let app = spawn_app().await;
    let database = sales_database().await;
    let (front, _key) = start_front().await;
    let snapshot = app
        .onboard("snowflake", credentials("sf", &front, &database))
        .await;
    check_orders(&snapshot);
    assert_eq!(snapshot["databases"][0]["name"], database.as_str());
    app.stop().await;
}

#[tokio::test]
async fn a_key_pair_logs_in_with_a_jwt_the_front_verifies() {
    let app = spawn_app().await;
    let database = sales_database().await;
    let (front, private_key) = start_front().await;
    let mut creds = credentials("sf-key", &front, &database);
    creds.as_object_mut().unwrap().remove("password");
    creds["privateKey"] = json!(private_key);
    let job = app.create_and_wait(&body("snowflake", creds)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    let snapshot: Value = app
        .get("/api/v2/datasource/sf-key/schema")
        .await
        .json()
        .await
        .unwrap();
    check_orders(&snapshot);
    // A key the user does not have is refused by the front, as Snowflake would.
    let mut other = credentials("sf-other-key", &front, &database);
    other.as_object_mut().unwrap().remove("password");
    let stranger = KeyPair::generate(KeySize::Rsa2048).unwrap();
    other["privateKey"] = json!(onramp::connectors::support::rsa_jwt::to_pem(
        "PRIVATE KEY",
        stranger.as_der().unwrap().as_ref()
    ));
    app.fails_with(
        &body("snowflake", other),
        "connect: snowflake refused the login (390100)…",
    )
    .await;
    app.stop().await;
}

/// `pem` encrypted as `openssl pkcs8 -topk8 -v2 aes-256-cbc` does (PBES2, PBKDF2).
fn openssl_encrypted(pem: &str, passphrase: &str) -> String {
    let path = std::env::temp_dir().join(format!("onramp-key-{}.pem", crate::helpers::unique("k")));
    std::fs::write(&path, pem).unwrap();
    let out = std::process::Command::new("openssl")
        .args(["pkcs8", "-topk8", "-v2", "aes-256-cbc", "-passout"])
        .arg(format!("pass:{passphrase}"))
        .arg("-in")
        .arg(&path)
        .output()
        .expect("openssl runs");
    let _ = std::fs::remove_file(&path);
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("BEGIN ENCRYPTED PRIVATE KEY"), "{text}");
    text
}

#[tokio::test]
async fn an_encrypted_key_pair_and_databrains_auth_methods_log_in() {
    let app = spawn_app().await;
    let database = sales_database().await;
    let (front, private_key) = start_front().await;
    let encrypted = openssl_encrypted(&private_key, "key-phrase");
    let mut creds = credentials("sf-encrypted", &front, &database);
    creds.as_object_mut().unwrap().remove("password");
    creds["privateKey"] = json!(encrypted);
    creds["privateKeyPassphrase"] = json!("key-phrase");
    creds["authMethod"] = json!("Key-pair authentication");
    let job = app.create_and_wait(&body("snowflake", creds.clone())).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    // The wrong passphrase fails the login step, and is never shown.
    creds["name"] = json!("sf-wrong-phrase");
    creds["privateKeyPassphrase"] = json!("not-the-phrase");
    let job = app
        .fails_with(
            &body("snowflake", creds.clone()),
            "connect: privateKey could not be decrypted with privateKeyPassphrase",
        )
        .await;
    assert!(!job.to_string().contains("not-the-phrase"), "{job}");
    // Without its passphrase: refused at the API.
    creds
        .as_object_mut()
        .unwrap()
        .remove("privateKeyPassphrase");
    let answer = app.post_datasource(&body("snowflake", creds)).await;
    assert_eq!(answer.status(), 400);
    let mut password = credentials("sf-databrain-pw", &front, &database);
    password["authMethod"] = json!("username/password");
    let job = app.create_and_wait(&body("snowflake", password)).await;
    assert_eq!(job["status"], "succeeded", "{job}");
    app.stop().await;
}

#[tokio::test]
async fn snowflake_faults_each_end_the_job_with_their_own_message() {
    let app = spawn_for_faults().await;
    let (front, private_key) = start_front().await;
    let mut wrong = credentials("wrong", &front, "ANY");
    wrong["password"] = json!("nope");
    let job = app
        .fails_with(
            &body("snowflake", wrong),
            "connect: snowflake refused the login (390100): Incorrect username or password was specified.",
        )
        .await;
    assert_eq!(job["error"]["code"], "CREDENTIAL_TEST_FAILED");
    app.unreachable_and_silent("snowflake", |name, url| credentials(name, url, "ANY"))
        .await;
    // Both ways to log in, an encrypted key, a malformed account: refused at the API.
    let mut both = credentials("both", &front, "ANY");
    both["privateKey"] = json!(private_key);
    let mut encrypted = credentials("encrypted", &front, "ANY");
    encrypted.as_object_mut().unwrap().remove("password");
    encrypted["privateKey"] =
        json!("-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----");
    let mut account = credentials("account", &front, "ANY");
    account["account"] = json!("acme/prod");
    for (bad, field) in [
        (both, "credentials.privateKey"),
        (encrypted, "credentials.privateKey"),
        (account, "credentials.account"),
    ] {
        let answer = app.post_datasource(&body("snowflake", bad)).await;
        assert_eq!(answer.status(), 400);
        let problem: Value = answer.json().await.unwrap();
        assert!(problem.to_string().contains(field), "{problem}");
        assert!(
            !problem.to_string().contains("BEGIN"),
            "the key must not be echoed: {problem}"
        );
    }
    app.stop().await;
}
