//! AWS Signature Version 4, for the S3, Glue and Athena APIs spoken over the
//! guarded HTTP client (the AWS SDK would open its own connections, around the guard).

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

type HmacSha256 = Hmac<Sha256>;

pub const EMPTY_PAYLOAD_SHA256: &str =
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("hmac takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// RFC 3986 encoding as SigV4 wants it: unreserved characters stay, the rest is %XX;
/// `/` stays in paths.
pub fn uri_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            b'/' if keep_slash => out.push('/'),
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

pub fn canonical_query(params: &[(String, String)]) -> String {
    let mut encoded: Vec<(String, String)> = params
        .iter()
        .map(|(k, v)| (uri_encode(k, false), uri_encode(v, false)))
        .collect();
    encoded.sort();
    encoded
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// What to sign: the request as it will be sent.
pub struct Signing<'a> {
    pub method: &'a str,
    /// Already-encoded absolute path, e.g. `/bucket/key%20name`.
    pub path: &'a str,
    pub query: &'a [(String, String)],
    /// Lower-case names; `host` and `x-amz-date` must be among them.
    pub headers: &'a [(String, String)],
    pub payload_sha256: &'a str,
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    /// `20150830T123600Z`
    pub amz_date: &'a str,
}

/// The `Authorization` header value for `s`.
pub fn authorization(s: &Signing<'_>) -> String {
    let mut headers: Vec<(String, String)> = s
        .headers
        .iter()
        .map(|(k, v)| {
            (
                k.to_ascii_lowercase(),
                v.split_whitespace().collect::<Vec<_>>().join(" "),
            )
        })
        .collect();
    headers.sort();
    let canonical_headers: String = headers.iter().map(|(k, v)| format!("{k}:{v}\n")).collect();
    let signed_headers = headers
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        s.method,
        s.path,
        canonical_query(s.query),
        canonical_headers,
        signed_headers,
        s.payload_sha256
    );
    let date = &s.amz_date[..8];
    let scope = format!("{date}/{}/{}/aws4_request", s.region, s.service);
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{}\n{scope}\n{}",
        s.amz_date,
        sha256_hex(canonical_request.as_bytes())
    );
    let k_date = hmac(
        format!("AWS4{}", s.secret_access_key).as_bytes(),
        date.as_bytes(),
    );
    let k_region = hmac(&k_date, s.region.as_bytes());
    let k_service = hmac(&k_region, s.service.as_bytes());
    let k_signing = hmac(&k_service, b"aws4_request");
    let signature = hex::encode(hmac(&k_signing, string_to_sign.as_bytes()));
    format!(
        "AWS4-HMAC-SHA256 Credential={}/{scope}, SignedHeaders={signed_headers}, Signature={signature}",
        s.access_key_id
    )
}

/// An access key and the scope it signs for.
pub struct Signer<'a> {
    pub access_key_id: &'a str,
    pub secret_access_key: &'a str,
    pub region: &'a str,
    pub service: &'a str,
}

/// The request being signed, as it will be sent.
pub struct Target<'a> {
    pub method: &'a str,
    pub url: &'a reqwest::Url,
    /// The URL's path, already encoded.
    pub path: &'a str,
    pub query: &'a [(String, String)],
}

impl Signer<'_> {
    /// Signs a request made now and puts the signed headers on it: `x-amz-date`, the
    /// given `headers`, and `authorization`. `host` is signed as reqwest will send it.
    pub fn sign(
        &self,
        request: reqwest::RequestBuilder,
        target: &Target<'_>,
        headers: Vec<(String, String)>,
        payload_sha256: &str,
    ) -> reqwest::RequestBuilder {
        let amz_date = chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string();
        let url = target.url;
        let host = match url.port() {
            Some(p) => format!("{}:{p}", url.host_str().unwrap_or_default()),
            None => url.host_str().unwrap_or_default().to_string(),
        };
        let mut signed = headers;
        signed.push(("x-amz-date".to_string(), amz_date.clone()));
        let mut with_host = signed.clone();
        with_host.push(("host".to_string(), host));
        let authorization = authorization(&Signing {
            method: target.method,
            path: target.path,
            query: target.query,
            headers: &with_host,
            payload_sha256,
            access_key_id: self.access_key_id,
            secret_access_key: self.secret_access_key,
            region: self.region,
            service: self.service,
            amz_date: &amz_date,
        });
        signed
            .into_iter()
            .fold(request, |r, (k, v)| r.header(k, v))
            .header("authorization", authorization)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The example in AWS's SigV4 documentation (IAM ListUsers, 2015-08-30).
    #[test]
    fn the_documented_example_signs_to_the_documented_signature() {
        let query = [
            ("Action".to_string(), "ListUsers".to_string()),
            ("Version".to_string(), "2010-05-08".to_string()),
        ];
        let headers = [
            (
                "Content-Type".to_string(),
                "application/x-www-form-urlencoded; charset=utf-8".to_string(),
            ),
            ("Host".to_string(), "iam.amazonaws.com".to_string()),
            ("X-Amz-Date".to_string(), "20150830T123600Z".to_string()),
        ];
        let auth = authorization(&Signing {
            method: "GET",
            path: "/",
            query: &query,
            headers: &headers,
            payload_sha256: EMPTY_PAYLOAD_SHA256,
            access_key_id: "AKIDEXAMPLE",
            secret_access_key: "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
            region: "us-east-1",
            service: "iam",
            amz_date: "20150830T123600Z",
        });
        assert_eq!(
            auth,
            "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/iam/aws4_request, \
             SignedHeaders=content-type;host;x-amz-date, \
             Signature=5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7"
        );
        assert_eq!(sha256_hex(b""), EMPTY_PAYLOAD_SHA256);
    }

    #[test]
    fn encoding_keeps_unreserved_characters_and_slashes_in_paths() {
        assert_eq!(uri_encode("a b/c~d*e", false), "a%20b%2Fc~d%2Ae");
        assert_eq!(uri_encode("dir/file name.csv", true), "dir/file%20name.csv");
        assert_eq!(
            canonical_query(&[
                ("prefix".into(), "a/".into()),
                ("list-type".into(), "2".into())
            ]),
            "list-type=2&prefix=a%2F"
        );
    }
}
