//! One job's AWS SDK configuration: the region, the endpoint, the guarded HTTP
//! client and the credentials (the customer's keys, or a role assumed with an
//! External ID); and the mapping of SDK errors onto connector errors.

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_runtime_api::client::interceptors::context::InterceptorContext;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::retries::classifiers::{ClassifyRetry, RetryAction};
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;
use secrecy::ExposeSecret;

use super::auth::AwsAuth;
use super::platform::Platform;
use crate::connectors::{ConnectorError, Fault, Net};

/// How long an assumed role's credentials last: longer than any job's steps.
const ROLE_SESSION: Duration = Duration::from_secs(3600);

/// An error answer of an AWS API: its code and message, for the caller to map.
#[derive(Debug)]
pub struct ApiError {
    pub status: u16,
    pub kind: String,
    pub message: String,
}

fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(10))
        .read_timeout(Duration::from_secs(30))
        .operation_attempt_timeout(Duration::from_secs(60))
        .build()
}

fn base(region: &str) -> aws_types::sdk_config::Builder {
    let mut b = SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .timeout_config(timeouts())
        // Throttling and 5xx are tried again within the step's time, not forever.
        .retry_config(RetryConfig::standard().with_max_attempts(3));
    if let Some(sleep) = aws_smithy_async::rt::sleep::default_async_sleep() {
        b = b.sleep_impl(sleep);
    }
    b
}

/// The configuration a job's clients are built from. A given `endpoint` (an
/// AWS-compatible server) is checked by the guard now when it is an IP literal,
/// and when it resolves otherwise; AWS's own endpoints are reached on 443.
pub async fn config(
    net: &Net,
    region: &str,
    endpoint: Option<&str>,
    auth: &AwsAuth,
) -> Result<SdkConfig, ConnectorError> {
    if net.tunnel().is_some() {
        return Err(ConnectorError::new(
            Fault::Protocol,
            "AWS APIs are not reached through an SSH tunnel",
            "remove the tunnel",
        ));
    }
    let port = match endpoint {
        Some(e) => {
            let url: reqwest::Url = e.parse().map_err(|_| {
                ConnectorError::new(Fault::Protocol, "endpoint is not a URL", "check endpoint")
            })?;
            crate::egress::http::check_url(net.egress(), &url)?;
            url.port_or_known_default().unwrap_or(443)
        }
        None => 443,
    };
    let credentials = credentials(net.aws(), region, auth).await?;
    let mut b = base(region)
        .http_client(super::guarded_http::client(net.egress(), port))
        .credentials_provider(SharedCredentialsProvider::new(credentials));
    if let Some(e) = endpoint {
        b = b.endpoint_url(e);
    }
    Ok(b.build())
}

/// The keys given, or the temporary credentials of the role, assumed now so that a
/// refusal is this step's precise error rather than every later call's.
async fn credentials(
    platform: &Platform,
    region: &str,
    auth: &AwsAuth,
) -> Result<Credentials, ConnectorError> {
    let keys = match (&auth.access_key_id, &auth.secret_access_key) {
        (Some(id), Some(secret)) => Some(Credentials::new(
            id,
            secret.expose_secret(),
            None,
            None,
            "onramp-datasource",
        )),
        _ => None,
    };
    let Some(role) = &auth.role_arn else {
        return keys.ok_or_else(|| {
            ConnectorError::new(
                Fault::Authentication,
                "no access keys and no role were given",
                "give accessKeyId and secretAccessKey, or roleArn and externalId",
            )
        });
    };
    // The source identity goes to STS only: the operator's endpoint or AWS's, never
    // the datasource's endpoint, so onramp's own credentials sign nothing a tenant
    // chose where to send.
    let mut b = match keys {
        Some(k) => base(region).credentials_provider(SharedCredentialsProvider::new(k)),
        None => base(region)
            .credentials_provider(platform.credentials().await)
            .identity_cache(platform.identity_cache.clone()),
    };
    if let Some(e) = &platform.sts_endpoint {
        b = b.endpoint_url(e);
    }
    let sts = aws_sdk_sts::Client::from_conf(
        aws_sdk_sts::config::Builder::from(&b.build())
            .retry_classifier(OwnErrorsAreFinal)
            .build(),
    );
    let answer = sts
        .assume_role()
        .role_arn(role)
        .role_session_name(format!(
            "onramp-{}",
            &uuid::Uuid::now_v7().simple().to_string()[..16]
        ))
        .set_external_id(auth.external_id.clone())
        .duration_seconds(ROLE_SESSION.as_secs() as i32)
        .send()
        .await
        .map_err(|e| {
            if let SdkError::ConstructionFailure(_) = &e {
                // Before anything is sent: onramp has no identity to sign with.
                return ConnectorError::new(
                    Fault::Authentication,
                    "onramp has no AWS identity to assume the role with",
                    "this is the operator's to fix: give onramp's workers AWS credentials (the usual AWS chain), or give accessKeyId and secretAccessKey with the role",
                );
            }
            match failure(e, &host_of(platform.sts_endpoint.as_deref(), "sts", region)) {
            Ok(api) => ConnectorError::new(
                match api.kind.as_str() {
                    "AccessDenied" | "AccessDeniedException" => Fault::Authentication,
                    "RegionDisabledException" => Fault::Permission,
                    _ => Fault::Authentication,
                },
                format!("role {role} could not be assumed: {}: {}", api.kind, api.message),
                "check the role's ARN, that its trust policy names onramp's AWS account and requires this externalId (sts:ExternalId), and that onramp's identity may call sts:AssumeRole",
            ),
            Err(other) => other,
            }
        })?;
    let c = answer.credentials().ok_or_else(|| {
        ConnectorError::new(
            Fault::Protocol,
            "sts answered AssumeRole without credentials",
            "check the STS endpoint",
        )
    })?;
    let expiry = std::time::SystemTime::try_from(*c.expiration()).ok();
    Ok(Credentials::new(
        c.access_key_id(),
        c.secret_access_key(),
        Some(c.session_token().to_string()),
        expiry,
        "onramp-assumed-role",
    ))
}

/// The host a service's requests go to, for messages: the endpoint's, or AWS's.
pub fn host_of(endpoint: Option<&str>, service: &str, region: &str) -> String {
    endpoint
        .and_then(|e| reqwest::Url::parse(e).ok())
        .and_then(|u| u.host_str().map(str::to_string))
        .unwrap_or_else(|| format!("{service}.{region}.amazonaws.com"))
}

/// An SDK error: the API's answer (`Ok`, for the caller's own mapping), or what
/// went wrong on the way as a connector error — the guard's refusal, the answer
/// cap, a timeout, an unreachable `host`.
pub fn failure<E, R>(e: SdkError<E, R>, host: &str) -> Result<ApiError, ConnectorError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + RawAnswer + 'static,
{
    if let Some(ours) = own_error(&e) {
        return Err(ours);
    }
    // The last error of the chain says what happened ("Connection refused"); the
    // layers above it only say where in the SDK.
    let innermost = |e: &(dyn std::error::Error + 'static)| {
        let mut last = e;
        while let Some(s) = last.source() {
            last = s;
        }
        last.to_string()
    };
    let late = || {
        ConnectorError::new(
            Fault::Timeout,
            format!("{host} did not answer in time"),
            "check the endpoint and region, and that the service is reachable from onramp's workers",
        )
    };
    match e {
        SdkError::ServiceError(ctx) => {
            let status = ctx.raw().status_code();
            // An error in a shape the SDK does not know (moto's STS wraps it in
            // <Response><Errors>) leaves it without a code: read the XML itself.
            let read = ctx.raw().body_bytes().and_then(xml_error);
            let err = ctx.into_err();
            let (kind, message) = match (err.code(), read) {
                (Some(code), _) => (code.to_string(), err.message().map(str::to_string)),
                (None, Some((code, message))) => (code, Some(message)),
                (None, None) => (String::new(), err.message().map(str::to_string)),
            };
            Ok(ApiError {
                status,
                kind,
                message: message
                    .filter(|m| !m.is_empty())
                    .unwrap_or_else(|| format!("http {status}")),
            })
        }
        // An error answer the SDK could not read as its protocol's: AWS-compatible
        // servers (and some front ends) answer JSON services in S3's XML format.
        SdkError::ResponseError(ref ctx) if ctx.raw().status_code() >= 400 => {
            let raw = ctx.raw();
            match raw.body_bytes().and_then(xml_error) {
                Some((kind, message)) => Ok(ApiError {
                    status: raw.status_code(),
                    kind,
                    message,
                }),
                None => Err(ConnectorError::new(
                    Fault::Protocol,
                    format!(
                        "{host} answered http {} in an unknown format",
                        raw.status_code()
                    ),
                    "check the endpoint and region",
                )),
            }
        }
        SdkError::TimeoutError(_) => Err(late()),
        SdkError::DispatchFailure(ref d) if d.is_timeout() => Err(late()),
        SdkError::DispatchFailure(_) => Err(ConnectorError::new(
            Fault::Unreachable,
            format!("request to {host} failed: {}", innermost(&e)),
            "check the endpoint and region, and that the service accepts connections from onramp's workers",
        )),
        other => Err(ConnectorError::new(
            Fault::Protocol,
            format!(
                "{host} answered something unexpected: {}",
                innermost(&other)
            ),
            "check the endpoint and region",
        )),
    }
}

/// `<Code>` and `<Message>` of an XML error answer, read by plain search (the
/// answer is already capped; nothing is nested that matters).
pub fn xml_error(body: &[u8]) -> Option<(String, String)> {
    let text = std::str::from_utf8(body).ok()?;
    let element = |tag: &str| {
        let open = format!("<{tag}>");
        let start = text.find(&open)? + open.len();
        let end = text.get(start..)?.find(&format!("</{tag}>"))? + start;
        text.get(start..end)
            .map(|t| t.trim().chars().take(300).collect::<String>())
    };
    Some((element("Code")?, element("Message").unwrap_or_default()))
}

/// Refuses to retry what onramp itself stopped (the guard's refusal, the answer
/// cap): the SDK would take a refused name for a network fault and a capped
/// answer for a broken one, and try again until the step's time ran out.
#[derive(Debug)]
pub struct OwnErrorsAreFinal;

impl ClassifyRetry for OwnErrorsAreFinal {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        match ctx.output_or_error() {
            Some(Err(e)) if own_error(e).is_some() => RetryAction::RetryForbidden,
            _ => RetryAction::NoActionIndicated,
        }
    }

    fn name(&self) -> &'static str {
        "onramp's own errors are final"
    }
}

/// A connector error of onramp's own (the guard, the cap) somewhere in the chain.
pub fn own_error(e: &(dyn std::error::Error + 'static)) -> Option<ConnectorError> {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(c) = s.downcast_ref::<ConnectorError>() {
            return Some(c.clone());
        }
        source = s.source();
    }
    None
}

/// What `failure` reads of a raw answer.
pub trait RawAnswer {
    fn status_code(&self) -> u16;
    /// The body, when the SDK has read it into memory.
    fn body_bytes(&self) -> Option<&[u8]>;
}

impl RawAnswer for aws_smithy_runtime_api::http::Response {
    fn status_code(&self) -> u16 {
        self.status().as_u16()
    }

    fn body_bytes(&self) -> Option<&[u8]> {
        self.body().bytes()
    }
}

/// The error for an API answer every AWS service shares; `None` for the caller's own.
pub fn common_error(e: &ApiError) -> Option<ConnectorError> {
    match e.kind.as_str() {
        "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "InvalidClientTokenId"
        | "SignatureDoesNotMatch"
        | "InvalidAccessKeyId"
        | "InvalidToken"
        | "ExpiredToken"
        | "ExpiredTokenException"
        | "IncompleteSignature" => Some(ConnectorError::new(
            Fault::Authentication,
            format!("the access key was refused: {}: {}", e.kind, e.message),
            "check the access key id and secret access key (or the role's)",
        )),
        // S3 says "AccessDenied"; the JSON services (Glue, Athena) say this.
        "AccessDeniedException" => Some(ConnectorError::new(
            Fault::Permission,
            format!("access was denied: {}", e.message),
            "grant the keys (or the role) athena:GetWorkGroup, glue:GetDatabase(s) and glue:GetTables",
        )),
        _ => None,
    }
}
