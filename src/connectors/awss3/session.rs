//! Connecting: the S3 client (`client.rs`) for the bucket, signed in with the keys
//! or the assumed role, and proved by one listing.

use super::client::S3;
use super::config::S3Config;
use crate::connectors::ConnectorError;
use crate::connectors::Net;

pub async fn connect(cfg: &S3Config, net: &Net) -> Result<S3, ConnectorError> {
    let s3 = S3::open(
        net,
        &cfg.region,
        &cfg.bucket,
        cfg.endpoint.as_deref(),
        &cfg.auth,
    )
    .await?;
    // Proves the keys (or the role), the bucket and the right to list in one request.
    s3.list(cfg.prefix(), None, 1).await?;
    Ok(s3)
}
