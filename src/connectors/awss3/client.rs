//! A small S3 client over the guarded HTTP client: ListObjectsV2 and ranged
//! GetObject, signed with SigV4. Path-style against a given endpoint (S3-compatible
//! stores), virtual-hosted style against AWS.

use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};

use crate::connectors::support::aws::sigv4;
use crate::connectors::support::aws::xml::{walk_text, xml_text};
use crate::connectors::{ConnectorError, Fault};
use crate::egress::http::GuardedClient;

pub struct S3 {
    pub client: GuardedClient,
    pub base: Url,
    pub path_style: bool,
    pub bucket: String,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: SecretString,
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
    /// The URL and encoded path of `key` (empty for the bucket itself).
    fn locate(&self, key: &str) -> (Url, String) {
        let encoded_key = sigv4::uri_encode(key, true);
        let path = if self.path_style {
            let base = self.base.path().trim_end_matches('/');
            format!(
                "{base}/{}/{encoded_key}",
                sigv4::uri_encode(&self.bucket, false)
            )
        } else {
            format!("/{encoded_key}")
        };
        let mut url = self.base.clone();
        url.set_path(&path);
        (url, path)
    }

    async fn send(
        &self,
        key: &str,
        query: &[(String, String)],
        range: Option<String>,
    ) -> Result<reqwest::Response, ConnectorError> {
        let (mut url, path) = self.locate(key);
        url.set_query(
            Some(&sigv4::canonical_query(query))
                .filter(|q| !q.is_empty())
                .map(String::as_str),
        );
        let mut headers = vec![(
            "x-amz-content-sha256".to_string(),
            sigv4::EMPTY_PAYLOAD_SHA256.to_string(),
        )];
        if let Some(r) = range {
            headers.push(("range".to_string(), r));
        }
        let signer = sigv4::Signer {
            access_key_id: &self.access_key_id,
            secret_access_key: self.secret_access_key.expose_secret(),
            region: &self.region,
            service: "s3",
        };
        let target = sigv4::Target {
            method: "GET",
            url: &url,
            path: &path,
            query,
        };
        let request = signer.sign(
            self.client.request(reqwest::Method::GET, url.as_str())?,
            &target,
            headers,
            sigv4::EMPTY_PAYLOAD_SHA256,
        );
        let response = self.client.send(request).await?;
        if response.status().is_success() {
            return Ok(response);
        }
        let status = response.status().as_u16();
        let body = self.client.read_error_text(response).await;
        Err(self.error(status, &body))
    }

    fn error(&self, status: u16, body: &str) -> ConnectorError {
        let code = xml_text(body, "Code").unwrap_or_default();
        let message = xml_text(body, "Message").unwrap_or_else(|| format!("http {status}"));
        match code.as_str() {
            "InvalidAccessKeyId" | "SignatureDoesNotMatch" | "InvalidToken" | "ExpiredToken" => {
                ConnectorError::new(
                    Fault::Authentication,
                    format!("the access key was refused: {code}: {message}"),
                    "check the access key id and secret access key",
                )
            }
            "NoSuchBucket" => ConnectorError::new(
                Fault::UnknownDatabase,
                format!("bucket {} does not exist", self.bucket),
                "check the bucket name and the region",
            ),
            "AccessDenied" | "AllAccessDisabled" => ConnectorError::new(
                Fault::Permission,
                format!("access to bucket {} was denied: {message}", self.bucket),
                "grant the keys s3:ListBucket and s3:GetObject on the bucket and prefix",
            ),
            "PermanentRedirect" | "AuthorizationHeaderMalformed" => ConnectorError::new(
                Fault::Protocol,
                format!("bucket {} is in another region: {message}", self.bucket),
                "set region to the bucket's region",
            ),
            _ => ConnectorError::new(
                Fault::Protocol,
                format!("s3 answered http {status}: {code} {message}"),
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
        let mut query = vec![
            ("list-type".to_string(), "2".to_string()),
            ("max-keys".to_string(), max_keys.to_string()),
            ("prefix".to_string(), prefix.to_string()),
        ];
        if let Some(token) = continuation {
            query.push(("continuation-token".to_string(), token.to_string()));
        }
        let response = self.send("", &query, None).await?;
        let body = self.client.read_text(response).await?;
        parse_list(&body).map_err(|e| {
            ConnectorError::new(
                Fault::Protocol,
                format!("unexpected listing: {e}"),
                "check the endpoint",
            )
        })
    }

    /// Bytes `start..=end` of `key` (the whole object when `range` is `None`).
    pub async fn get(
        &self,
        key: &str,
        range: Option<(u64, u64)>,
    ) -> Result<Vec<u8>, ConnectorError> {
        let wanted = range.map(|(a, b)| b.saturating_sub(a).saturating_add(1));
        let range = range.map(|(a, b)| format!("bytes={a}-{b}"));
        let response = self.send(key, &[], range).await?;
        // A server may ignore the Range header and send the whole object: read no
        // more than was asked for (or the limit, for a whole object).
        let bytes = match wanted {
            Some(n) if (n as usize) < self.client.body_limit() => {
                self.client.read_prefix(response, n as usize).await?
            }
            _ => self.client.read_bytes(response).await?,
        };
        Ok(bytes)
    }
}

/// Keys and sizes of a ListObjectsV2 answer, and its continuation token.
pub fn parse_list(xml: &str) -> Result<Page, String> {
    let (mut objects, mut next, mut truncated) = (Vec::new(), None, false);
    let (mut key, mut size): (Option<String>, u64) = (None, 0);
    walk_text(xml, |path, text| {
        // Only the last two names matter: no copy of the path per element.
        let last = path.last().map(String::as_str);
        let parent = path
            .len()
            .checked_sub(2)
            .and_then(|i| path.get(i))
            .map(String::as_str);
        match (parent, last) {
            (Some("Contents"), Some("Key")) => key = Some(text.to_string()),
            (Some("Contents"), Some("Size")) => size = text.trim().parse().unwrap_or(0),
            (_, Some("Contents")) => {
                if let Some(k) = key.take() {
                    objects.push(Object { key: k, size });
                }
                size = 0;
            }
            (_, Some("NextContinuationToken")) => next = Some(text.to_string()),
            (_, Some("IsTruncated")) => truncated = text.trim() == "true",
            _ => {}
        }
        true
    })?;
    Ok(Page {
        objects,
        next: next.filter(|_| truncated),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_listing_gives_keys_sizes_and_the_next_token() {
        let xml = r#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Name>b</Name><IsTruncated>true</IsTruncated>
<Contents><Key>a/x &amp; y.csv</Key><Size>12</Size></Contents><Contents><Key>a/z.parquet</Key><Size>345</Size></Contents>
<NextContinuationToken>tok</NextContinuationToken></ListBucketResult>"#;
        let page = parse_list(xml).unwrap();
        assert_eq!(
            page.objects,
            [
                Object {
                    key: "a/x & y.csv".into(),
                    size: 12
                },
                Object {
                    key: "a/z.parquet".into(),
                    size: 345
                }
            ]
        );
        assert_eq!(page.next.as_deref(), Some("tok"));
        assert_eq!(
            xml_text("<Error><Code>NoSuchBucket</Code></Error>", "Code").as_deref(),
            Some("NoSuchBucket")
        );
    }
}
