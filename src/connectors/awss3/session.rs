//! Connecting: the S3 client (`client.rs`) for the bucket, proved by one listing.

use super::client::S3;
use super::config::S3Config;
use crate::connectors::Net;
use crate::connectors::{ConnectorError, Fault};

pub async fn connect(cfg: &S3Config, net: &Net) -> Result<S3, ConnectorError> {
    let client = net.http()?;
    let (base, path_style) = match &cfg.endpoint {
        Some(e) => (e.parse().expect("validated url"), true),
        None => (
            format!("https://{}.s3.{}.amazonaws.com/", cfg.bucket, cfg.region)
                .parse()
                .map_err(|_| {
                    ConnectorError::new(Fault::Protocol, "bad bucket or region", "check both")
                })?,
            false,
        ),
    };
    let s3 = S3 {
        client,
        base,
        path_style,
        bucket: cfg.bucket.clone(),
        region: cfg.region.clone(),
        access_key_id: cfg.access_key_id.clone(),
        secret_access_key: cfg.secret_access_key.clone(),
    };
    // Proves the keys, the bucket and the right to list in one request.
    s3.list(cfg.prefix(), None, 1).await?;
    Ok(s3)
}
