//! The AWS JSON protocol (Glue, Athena): `POST /` with `X-Amz-Target`, signed with
//! SigV4, over the guarded HTTP client.

use reqwest::Url;
use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::sigv4;
use crate::connectors::{ConnectorError, Fault};
use crate::egress::http::GuardedClient;

pub struct AwsJson {
    pub client: GuardedClient,
    /// A fixed endpoint (an AWS-compatible server) for every service, or AWS's own.
    pub endpoint: Option<Url>,
    pub region: String,
    pub access_key_id: String,
    pub secret_access_key: SecretString,
}

/// An error answer: the exception's name and message.
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub kind: String,
    pub message: String,
}

impl AwsJson {
    fn url(&self, service: &str) -> Result<Url, ConnectorError> {
        match &self.endpoint {
            Some(e) => Ok(e.clone()),
            None => format!("https://{service}.{}.amazonaws.com/", self.region)
                .parse()
                .map_err(|_| {
                    ConnectorError::new(Fault::Protocol, "bad region", "check the region")
                }),
        }
    }

    /// Calls `target` (e.g. `AWSGlue.GetTables`) of `service`; an API error comes back
    /// as `Err(Ok(ApiError))` for the caller to interpret, a transport error as `Err(Err(..))`.
    pub async fn call(
        &self,
        service: &str,
        target: &str,
        body: &Value,
    ) -> Result<Value, Result<ApiError, ConnectorError>> {
        let url = self.url(service).map_err(Err)?;
        let payload = serde_json::to_vec(body).expect("json serialises");
        let headers = vec![
            (
                "content-type".to_string(),
                "application/x-amz-json-1.1".to_string(),
            ),
            ("x-amz-target".to_string(), target.to_string()),
        ];
        let signer = sigv4::Signer {
            access_key_id: &self.access_key_id,
            secret_access_key: self.secret_access_key.expose_secret(),
            region: &self.region,
            service,
        };
        let target = sigv4::Target {
            method: "POST",
            url: &url,
            path: url.path(),
            query: &[],
        };
        let request = signer.sign(
            self.client
                .request(reqwest::Method::POST, url.as_str())
                .map_err(Err)?,
            &target,
            headers,
            &sigv4::sha256_hex(&payload),
        );
        let response = self.client.send(request.body(payload)).await.map_err(Err)?;
        let status = response.status().as_u16();
        let text = if (200..300).contains(&status) {
            self.client.read_text(response).await.map_err(Err)?
        } else {
            self.client.read_error_text(response).await
        };
        let value: Value = serde_json::from_str(&text).unwrap_or(Value::Null);
        if (200..300).contains(&status) {
            return Ok(value);
        }
        // JSON services answer errors in JSON; some front ends (and AWS-compatible
        // servers) answer authentication failures in the XML error format.
        let xml = |tag: &str| super::xml::xml_text(&text, tag);
        let kind = match value["__type"].as_str() {
            Some(t) => t.rsplit('#').next().unwrap_or("").to_string(),
            None => xml("Code").unwrap_or_default(),
        };
        let message: String = value["message"]
            .as_str()
            .or(value["Message"].as_str())
            .map(str::to_string)
            .or_else(|| xml("Message"))
            .unwrap_or_else(|| text.clone())
            .chars()
            .take(300)
            .collect();
        Err(Ok(ApiError {
            status,
            kind,
            message,
        }))
    }
}

/// The error for an API answer every AWS JSON service shares; `None` for the caller's own.
pub fn common_error(e: &ApiError) -> Option<ConnectorError> {
    match e.kind.as_str() {
        "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "ExpiredTokenException"
        | "IncompleteSignature" => Some(ConnectorError::new(
            Fault::Authentication,
            format!("the access key was refused: {}: {}", e.kind, e.message),
            "check the access key id and secret access key",
        )),
        "AccessDeniedException" => Some(ConnectorError::new(
            Fault::Permission,
            format!("access was denied: {}", e.message),
            "grant the keys athena:GetWorkGroup, glue:GetDatabase(s) and glue:GetTables",
        )),
        _ => None,
    }
}

/// Maps a Hive / Glue column type name onto a type family.
pub fn hive_family(native: &str) -> crate::domain::snapshot::TypeFamily {
    use crate::domain::snapshot::TypeFamily;
    let base = native
        .split(['(', '<'])
        .next()
        .unwrap_or(native)
        .trim()
        .to_ascii_lowercase();
    match base.as_str() {
        "tinyint" | "smallint" | "int" | "integer" | "bigint" => TypeFamily::Integer,
        "float" | "double" | "real" => TypeFamily::Float,
        "decimal" | "numeric" => TypeFamily::Decimal,
        "string" | "varchar" | "char" => TypeFamily::String,
        "boolean" => TypeFamily::Boolean,
        "date" => TypeFamily::Date,
        "timestamp" => TypeFamily::Timestamp,
        "binary" => TypeFamily::Binary,
        "array" => TypeFamily::Array,
        "struct" | "map" => TypeFamily::Json,
        _ => TypeFamily::Other,
    }
}
