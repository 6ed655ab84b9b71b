//! Connecting: the file reached (uploaded, over http(s), or in S3 through the S3
//! client) and its sample read, with the size limit applied.

use super::config::{CsvConfig, Source};
use crate::connectors::Net;
use crate::connectors::awss3::client::S3;
use crate::connectors::{ConnectorError, Fault};

/// Bytes read from the start of the file for inference.
pub const SAMPLE_BYTES: u64 = 1024 * 1024;

/// The first bytes of the file and whether there is more.
pub struct Sample {
    pub(super) name: String,
    pub(super) bytes: Vec<u8>,
    pub(super) truncated: bool,
    pub(super) size: Option<u64>,
}

fn too_large(size: u64, limit: u64) -> ConnectorError {
    ConnectorError::new(
        Fault::Protocol,
        format!("the file is {size} bytes, over the limit of {limit} bytes"),
        "point at a smaller file, or ask the operator to raise ONRAMP_CSV_MAX_BYTES",
    )
}

/// Reaches the file and reads its sample: proves the URL, the keys and the size.
pub async fn connect(cfg: &CsvConfig, net: &Net) -> Result<Sample, ConnectorError> {
    let limit = cfg.max_bytes.unwrap_or(u64::MAX);
    let source = cfg
        .source()
        .map_err(|e| ConnectorError::new(Fault::Protocol, format!("url: {e}"), "fix the URL"))?;
    match source {
        None => {
            let upload = cfg.upload.as_ref().ok_or_else(|| {
                ConnectorError::new(
                    Fault::Protocol,
                    "no url and no uploaded file",
                    "give a url, or upload the file with the request",
                )
            })?;
            let end = upload.content.len().min(SAMPLE_BYTES as usize);
            Ok(Sample {
                name: upload.file_name.clone(),
                bytes: upload.content[..end].to_vec(),
                truncated: upload.content.len() > end,
                size: Some(upload.content.len() as u64),
            })
        }
        Some(Source::Http(url)) => {
            // The query of a presigned URL is a credential: never quote it.
            let shown = format!(
                "{}://{}{}",
                url.scheme(),
                url.host_str().unwrap_or_default(),
                url.path()
            );
            let client = net.http()?;
            let request = client
                .request(reqwest::Method::GET, url.as_str())?
                .header("range", format!("bytes=0-{}", SAMPLE_BYTES - 1));
            let response = client.send(request).await?;
            let status = response.status().as_u16();
            if status == 404 {
                return Err(ConnectorError::new(
                    Fault::UnknownDatabase,
                    format!("{shown} does not exist (http 404)"),
                    "check the URL",
                ));
            }
            if status == 401 || status == 403 {
                return Err(ConnectorError::new(
                    Fault::Authentication,
                    format!("{shown} refused access (http {status})"),
                    "make the file readable at this URL, or upload it",
                ));
            }
            if !(200..300).contains(&status) {
                return Err(ConnectorError::new(
                    Fault::Protocol,
                    format!("{shown} answered http {status}"),
                    "check the URL",
                ));
            }
            // 206 carries the total in Content-Range; 200 (no range support) in Content-Length.
            let size = response
                .headers()
                .get("content-range")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit('/').next())
                .and_then(|n| n.parse::<u64>().ok())
                .or(response.content_length());
            if let Some(size) = size.filter(|s| *s > limit) {
                return Err(too_large(size, limit));
            }
            let bytes = client
                .read_prefix(response, SAMPLE_BYTES as usize + 1)
                .await?;
            let truncated = size.map_or(bytes.len() as u64 > SAMPLE_BYTES, |s| {
                s > bytes.len().min(SAMPLE_BYTES as usize) as u64
            });
            let mut bytes = bytes;
            bytes.truncate(SAMPLE_BYTES as usize);
            let name = url
                .path_segments()
                .and_then(|mut s| s.next_back())
                .unwrap_or("file")
                .to_string();
            Ok(Sample {
                name,
                bytes,
                truncated,
                size,
            })
        }
        Some(Source::S3 { bucket, key }) => {
            let region = cfg.region.clone().unwrap_or_default();
            let s3 = S3::open(net, &region, &bucket, cfg.endpoint.as_deref(), &cfg.auth).await?;
            let page = s3.list(&key, None, 1).await?;
            let object = page
                .objects
                .into_iter()
                .find(|o| o.key == key)
                .ok_or_else(|| {
                    ConnectorError::new(
                        Fault::UnknownDatabase,
                        format!("s3://{bucket}/{key} does not exist"),
                        "check the bucket and key",
                    )
                })?;
            if object.size > limit {
                return Err(too_large(object.size, limit));
            }
            let end = object.size.min(SAMPLE_BYTES).saturating_sub(1);
            let bytes = if object.size == 0 {
                Vec::new()
            } else {
                s3.get(&key, Some((0, end))).await?
            };
            let name = key.rsplit('/').next().unwrap_or(&key).to_string();
            Ok(Sample {
                name,
                bytes,
                truncated: object.size > SAMPLE_BYTES,
                size: Some(object.size),
            })
        }
    }
}
