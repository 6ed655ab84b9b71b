//! Objects in the moto S3 server that scripts/test-servers.sh starts.

use std::sync::Arc;

use serde_json::Value;

pub const MOTO_PORT: u16 = 15000;

pub fn endpoint() -> String {
    format!("http://127.0.0.1:{MOTO_PORT}")
}

async fn put(path: &str, body: Vec<u8>) {
    let r = reqwest::Client::new()
        .put(format!("{}/{path}", endpoint()))
        .header("content-type", "application/octet-stream")
        .body(body)
        .send()
        .await
        .expect("moto runs (scripts/test-servers.sh starts it)");
    assert!(r.status().is_success(), "PUT {path}: {}", r.status());
}

pub async fn bucket(name: &str) {
    put(name, Vec::new()).await;
}

pub async fn object(bucket: &str, key: &str, body: impl Into<Vec<u8>>) {
    put(&format!("{bucket}/{key}"), body.into()).await;
}

/// A Parquet file with `message` as its schema and no rows: all a footer reader needs.
pub fn parquet_file(message: &str) -> Vec<u8> {
    let schema = Arc::new(parquet::schema::parser::parse_message_type(message).unwrap());
    let mut buffer = Vec::new();
    let props = Arc::new(parquet::file::properties::WriterProperties::builder().build());
    let writer =
        parquet::file::writer::SerializedFileWriter::new(&mut buffer, schema, props).unwrap();
    writer.close().unwrap();
    buffer
}

pub fn credentials(name: &str, bucket: &str, prefix: &str) -> serde_json::Value {
    serde_json::json!({"name": name, "region": "us-east-1", "bucket": bucket, "prefix": prefix,
        "accessKeyId": "AKIDONRAMPTEST", "secretAccessKey": "not-checked-by-this-server", "endpoint": endpoint()})
}

/// A moto server of this test's own that checks every signature after its set-up.
pub async fn checking_moto() -> (tokio::process::Child, String, Value) {
    let port = crate::helpers::proxy::closed_port().await;
    moto_checking_after(port, 4, "auth_setup.py", &["checked"]).await
}

/// A moto server of this test's own with an admin, onramp's platform identity and a
/// role that identity may assume with `external_id` (`tests/servers/moto/role_setup.py`),
/// On `port`, so that an app can be told its STS endpoint before moto starts.
pub async fn role_moto_on(port: u16, external_id: &str) -> (tokio::process::Child, String, Value) {
    moto_checking_after(port, 10, "role_setup.py", &[external_id]).await
}

/// Starts moto checking signatures and IAM policies after `unchecked` requests, and
/// runs the set-up `script` (which makes exactly that many) against it.
async fn moto_checking_after(
    port: u16,
    unchecked: u32,
    script: &str,
    args: &[&str],
) -> (tokio::process::Child, String, Value) {
    let endpoint = format!("http://127.0.0.1:{port}");
    let child = tokio::process::Command::new("/var/lib/onramp-venv/bin/moto_server")
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .env("INITIAL_NO_AUTH_ACTION_COUNT", unchecked.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("moto is installed (scripts/test-servers.sh)");
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let setup = format!("{}/tests/servers/moto/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = tokio::process::Command::new("/var/lib/onramp-venv/bin/python3")
        .arg(&setup)
        .arg(&endpoint)
        .args(args)
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let keys: Value = serde_json::from_slice(&out.stdout).unwrap();
    (child, endpoint, keys)
}
