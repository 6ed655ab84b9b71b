//! S3 through the AWS SDK: ListObjectsV2 and ranged GetObject. Path-style against
//! a given endpoint (S3-compatible stores), virtual-hosted style against AWS.

use aws_sdk_s3::config::{RequestChecksumCalculation, ResponseChecksumValidation};

use crate::connectors::Net;
use crate::connectors::support::aws::AwsAuth;
use crate::connectors::support::aws::sdk::{
    ApiError, OwnErrorsAreFinal, common_error, config, failure, host_of, own_error,
};
use crate::connectors::{ConnectorError, Fault};

pub struct S3 {
    client: aws_sdk_s3::Client,
    bucket: String,
    /// Where requests go, for messages.
    host: String,
    /// The most of one object read at once.
    body_limit: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub key: String,
    pub size: u64,
}

pub struct Page {
    pub objects: Vec<Object>,
    pub next: Option<String>,
}

impl S3 {
    /// A client for `bucket`, signed in as `auth` says (a role is assumed now).
    pub async fn open(
        net: &Net,
        region: &str,
        bucket: &str,
        endpoint: Option<&str>,
        auth: &AwsAuth,
    ) -> Result<S3, ConnectorError> {
        let sdk = config(net, region, endpoint, auth).await?;
        let conf = aws_sdk_s3::config::Builder::from(&sdk)
            .force_path_style(endpoint.is_some())
            // S3-compatible stores do not all know the newer checksums; GETs need none.
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired)
            .retry_classifier(OwnErrorsAreFinal)
            .build();
        Ok(S3 {
            client: aws_sdk_s3::Client::from_conf(conf),
            bucket: bucket.to_string(),
            host: host_of(endpoint, "s3", region),
            body_limit: net.response_max_bytes(),
        })
    }

    fn error(&self, e: Result<ApiError, ConnectorError>) -> ConnectorError {
        let e = match e {
            Ok(api) => api,
            Err(other) => return other,
        };
        if let Some(common) = common_error(&e) {
            return common;
        }
        match e.kind.as_str() {
            "NoSuchBucket" => ConnectorError::new(
                Fault::UnknownDatabase,
                format!("bucket {} does not exist", self.bucket),
                "check the bucket name and the region",
            ),
            "AccessDenied" | "AllAccessDisabled" => ConnectorError::new(
                Fault::Permission,
                format!("access to bucket {} was denied: {}", self.bucket, e.message),
                "grant the keys (or the role) s3:ListBucket and s3:GetObject on the bucket and prefix",
            ),
            "PermanentRedirect" | "AuthorizationHeaderMalformed" => ConnectorError::new(
                Fault::Protocol,
                format!("bucket {} is in another region: {}", self.bucket, e.message),
                "set region to the bucket's region",
            ),
            _ => ConnectorError::new(
                Fault::Protocol,
                format!("s3 answered http {}: {} {}", e.status, e.kind, e.message),
                "check the endpoint, region and bucket",
            ),
        }
    }

    /// One page of ListObjectsV2.
    pub async fn list(
        &self,
        prefix: &str,
        continuation: Option<&str>,
        max_keys: u32,
    ) -> Result<Page, ConnectorError> {
        let answer = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .max_keys(max_keys.min(i32::MAX as u32) as i32)
            .set_continuation_token(continuation.map(str::to_string))
            .send()
            .await
            .map_err(|e| self.error(failure(e, &self.host)))?;
        let objects = answer
            .contents()
            .iter()
            .filter_map(|o| {
                Some(Object {
                    key: o.key()?.to_string(),
                    size: o.size().and_then(|s| u64::try_from(s).ok()).unwrap_or(0),
                })
            })
            .collect();
        let next = answer
            .next_continuation_token()
            .filter(|_| answer.is_truncated().unwrap_or(false))
            .map(str::to_string);
        Ok(Page { objects, next })
    }

    /// Bytes `start..=end` of `key` (the whole object when `range` is `None`).
    pub async fn get(
        &self,
        key: &str,
        range: Option<(u64, u64)>,
    ) -> Result<Vec<u8>, ConnectorError> {
        let wanted = range.map(|(a, b)| b.saturating_sub(a).saturating_add(1));
        let answer = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .set_range(range.map(|(a, b)| format!("bytes={a}-{b}")))
            .send()
            .await
            .map_err(|e| self.error(failure(e, &self.host)))?;
        // A server may ignore the Range header and send the whole object: read no
        // more than was asked for, and never more than the limit for a whole one.
        let cap = match wanted {
            Some(n) => usize::try_from(n)
                .unwrap_or(usize::MAX)
                .min(self.body_limit),
            None => self.body_limit,
        };
        let mut body = answer.body;
        let mut bytes = Vec::new();
        while bytes.len() < cap {
            let chunk = match body.next().await {
                None => break,
                Some(Ok(chunk)) => chunk,
                Some(Err(e)) => {
                    return Err(own_error(&e).unwrap_or_else(|| ConnectorError::new(
                        Fault::Unreachable,
                        format!("reading s3://{}/{key} failed: {e}", self.bucket),
                        "the server closed the connection or stopped sending: check that it is not overloaded",
                    )));
                }
            };
            let room = cap - bytes.len();
            bytes.extend_from_slice(&chunk[..chunk.len().min(room)]);
        }
        if wanted.is_none() && bytes.len() >= self.body_limit && body.next().await.is_some() {
            return Err(crate::egress::http::too_large(self.body_limit));
        }
        Ok(bytes)
    }
}
