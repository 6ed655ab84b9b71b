//! Objects in the moto S3 server that scripts/test-servers.sh starts.

use std::sync::Arc;

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
