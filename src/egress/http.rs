//! HTTP through the egress guard, for connectors that speak REST: names resolve
//! through the guard, IP-literal URLs are checked before the request, every
//! redirect is checked again before it is followed, no proxy is ever used, and
//! every answer is read with a size cap.

use std::sync::Arc;
use std::sync::atomic::{AtomicU16, Ordering};
use std::time::Duration;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::{RequestBuilder, Response, Url};

use super::{Egress, denied};
use crate::domain::{ConnectorError, Fault};

const MAX_REDIRECTS: usize = 5;

/// The most of an error answer that is read: enough for any message worth quoting.
pub const ERROR_BODY_MAX_BYTES: usize = 64 * 1024;

tokio::task_local! {
    /// The port the request being sent (or the redirect being followed) goes to.
    /// The resolver sees only a name, but onramp's own endpoints are refused by
    /// address *and* port.
    static TARGET_PORT: Arc<AtomicU16>;
}

/// A reqwest client whose every connection passes the guard.
#[derive(Clone)]
pub struct GuardedClient {
    pub client: reqwest::Client,
    egress: Egress,
    /// Through an SSH tunnel: every connection goes to the bastion (which the guard
    /// checked when the tunnel opened), and target addresses are the customer's
    /// network's, so URLs are held only to their shape.
    tunneled: bool,
    /// Where the TLS policy's verifier keeps the certificate a server presented.
    presented: Option<Arc<super::tls::Presented>>,
    /// Bytes this client may still read from targets, all answers together.
    budget: Arc<std::sync::atomic::AtomicUsize>,
    /// Each request sent once as it is: no redirect followed, no busy answer waited
    /// out and asked again (webhook deliveries, whose retries are their own).
    as_is: bool,
}

struct GuardResolver {
    egress: Egress,
}

impl Resolve for GuardResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let egress = self.egress.clone();
        // Read now, in the request's task: the lookup may finish elsewhere.
        let port = TARGET_PORT.try_with(|p| p.load(Ordering::SeqCst)).ok();
        Box::pin(async move {
            let host = name.as_str();
            // reqwest puts the URL's port on the addresses itself.
            let addrs = egress.resolve_checked(host, 0).await.map_err(boxed)?;
            for addr in &addrs {
                let refused = match port {
                    Some(port) => egress.is_protected(std::net::SocketAddr::new(addr.ip(), port)),
                    // A connection not made by `send`: judge the address on any port.
                    None => egress.protects_ip(addr.ip()),
                };
                if refused {
                    return Err(boxed(denied(host, super::Refusal::OwnService)));
                }
            }
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

fn boxed(e: ConnectorError) -> Box<dyn std::error::Error + Send + Sync> {
    Box::new(e)
}

/// Refuses URLs that are not plain http(s), that carry credentials, or whose
/// literal address the policy forbids. Names are checked when they resolve.
pub fn check_url(egress: &Egress, url: &Url) -> Result<(), ConnectorError> {
    check_shape(url)?;
    let port = url.port_or_known_default().unwrap_or(0);
    let literal = |ip: std::net::IpAddr| {
        egress.check_addr(&ip.to_string(), std::net::SocketAddr::new(ip, port))
    };
    match url.host() {
        Some(url::Host::Ipv4(ip)) => literal(ip.into()),
        Some(url::Host::Ipv6(ip)) => literal(ip.into()),
        _ => Ok(()),
    }
}

/// What every URL must be, whichever way it is reached: plain http(s), a host, no
/// user information.
fn check_shape(url: &Url) -> Result<(), ConnectorError> {
    let bad = |why: &str| {
        ConnectorError::new(
            Fault::Egress,
            format!("url refused: {why}"),
            "give an http or https URL with a host name, without user name or password",
        )
    };
    if url.scheme() != "http" && url.scheme() != "https" {
        return Err(bad("only http and https are allowed"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(bad("user information in a URL is not allowed"));
    }
    if url.host().is_none() {
        return Err(bad("it has no host"));
    }
    Ok(())
}

impl GuardedClient {
    pub fn new(
        egress: Egress,
        builder: reqwest::ClientBuilder,
    ) -> Result<GuardedClient, ConnectorError> {
        // A proxy from the environment (HTTP(S)_PROXY, ALL_PROXY) would make the
        // connection to an address the guard never saw: the guard is the only route.
        GuardedClient::build(egress, builder.no_proxy(), false, false)
    }

    /// A client that sends each request once, as it is: a redirect is an answer like
    /// any other (a webhook's receiver must answer 2xx itself), and a busy answer is
    /// returned, not waited out.
    pub fn without_redirects(
        egress: Egress,
        builder: reqwest::ClientBuilder,
    ) -> Result<GuardedClient, ConnectorError> {
        GuardedClient::build(egress, builder.no_proxy(), false, true)
    }

    /// A client whose every connection goes through an SSH tunnel's SOCKS front.
    pub fn through(
        egress: Egress,
        builder: reqwest::ClientBuilder,
        socks_url: &str,
    ) -> Result<GuardedClient, ConnectorError> {
        // The error would quote the proxy's URL, with its one-job password.
        let proxy = reqwest::Proxy::all(socks_url).map_err(|_| {
            ConnectorError::new(
                Fault::Protocol,
                "http client: the tunnel's proxy address was not accepted",
                "this is a bug",
            )
        })?;
        // Setting a proxy turns the environment's off.
        GuardedClient::build(egress, builder.proxy(proxy), true, false)
    }

    fn build(
        egress: Egress,
        builder: reqwest::ClientBuilder,
        tunneled: bool,
        as_is: bool,
    ) -> Result<GuardedClient, ConnectorError> {
        let for_redirects = egress.clone();
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if as_is {
                return attempt.stop();
            }
            if attempt.previous().len() >= MAX_REDIRECTS {
                return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
            }
            let checked = if tunneled {
                check_shape(attempt.url())
            } else {
                check_url(&for_redirects, attempt.url())
            };
            match checked {
                Ok(()) => {
                    let port = attempt.url().port_or_known_default().unwrap_or(0);
                    let _ = TARGET_PORT.try_with(|p| p.store(port, Ordering::SeqCst));
                    attempt.follow()
                }
                Err(e) => attempt.error(e),
            }
        });
        let client = builder
            .dns_resolver(Arc::new(GuardResolver {
                egress: egress.clone(),
            }))
            .redirect(policy)
            .build()
            .map_err(|e| {
                ConnectorError::new(
                    Fault::Protocol,
                    format!("http client: {e}"),
                    "this is a bug",
                )
            })?;
        let budget = Arc::new(std::sync::atomic::AtomicUsize::new(egress.read_budget()));
        Ok(GuardedClient {
            client,
            egress,
            tunneled,
            presented: None,
            budget,
            as_is,
        })
    }

    /// Starts a request after checking the URL as given: reqwest moves user
    /// information into an Authorization header, so it is checked here, first.
    pub fn request(
        &self,
        method: reqwest::Method,
        url: &str,
    ) -> Result<RequestBuilder, ConnectorError> {
        let parsed = Url::parse(url).map_err(|e| {
            ConnectorError::new(
                Fault::Egress,
                format!("url refused: {e}"),
                "give an absolute http or https URL",
            )
        })?;
        self.check(&parsed)?;
        Ok(self.client.request(method, parsed))
    }

    /// Sends a request built on `self.client`, after checking its URL; a refusal by
    /// the guard (here, in the resolver, or on a redirect) comes back as `Fault::Egress`.
    pub async fn send(&self, request: RequestBuilder) -> Result<Response, ConnectorError> {
        let request = request.build().map_err(|e| {
            ConnectorError::new(
                Fault::Protocol,
                format!("bad request: {e}"),
                "this is a bug",
            )
        })?;
        self.check(request.url())?;
        let port = Arc::new(AtomicU16::new(
            request.url().port_or_known_default().unwrap_or(0),
        ));
        let host = request.url().host_str().unwrap_or_default().to_string();
        // A server that says it is busy (429, 503) is asked again after the pause it
        // names (Retry-After, at most 10 s) or a growing one, a few times; the job's
        // phase timeout bounds the whole.
        let mut request = request;
        let mut pause = Duration::from_millis(200);
        let mut tries = 0;
        let sent = loop {
            let again = request.try_clone();
            let sent = TARGET_PORT
                .scope(port.clone(), self.client.execute(request))
                .await;
            let busy = sent.as_ref().ok().and_then(|r| {
                matches!(r.status().as_u16(), 429 | 503).then(|| retry_after(r.headers()))
            });
            match (busy, again) {
                (Some(asked), Some(again)) if tries < BUSY_RETRIES && !self.as_is => {
                    let wait = asked.unwrap_or(pause).min(Duration::from_secs(10));
                    if !busy_wait(wait, "http_busy").await {
                        break sent;
                    }
                    pause = (pause * 2).min(Duration::from_secs(5));
                    tries += 1;
                    request = again;
                }
                _ => break sent,
            }
        };
        let response = sent.map_err(|e| {
            let mut source: Option<&dyn std::error::Error> = Some(&e);
            while let Some(s) = source {
                if let Some(refused) = s.downcast_ref::<ConnectorError>() {
                    return refused.clone();
                }
                source = s.source();
            }
            if let Some(tls) = super::tls::find_rustls_error(&e) {
                let shown = self.presented.as_ref().and_then(|p| p.get());
                return super::tls::tls_failure(&host, tls, shown.as_deref());
            }
            if e.is_timeout() {
                ConnectorError::new(
                    Fault::Timeout,
                    format!("{host} did not answer in time"),
                    "check the endpoint",
                )
            } else {
                ConnectorError::new(
                    Fault::Unreachable,
                    format!("request to {host} failed: {}", without_url(&e)),
                    "check the URL and that the service accepts connections",
                )
            }
        })?;
        // A server still too busy after the waits the step allowed: a fault of its
        // own, which the connect step tries again within its time.
        if response.status().as_u16() == 429 && !self.as_is {
            return Err(ConnectorError::new(
                Fault::Busy,
                format!("{host} answered 429 too many requests"),
                ConnectorError::BUSY_HINT,
            ));
        }
        Ok(response)
    }

    /// The same client, naming the presented certificate when a handshake fails.
    pub fn reporting(mut self, presented: Arc<super::tls::Presented>) -> GuardedClient {
        self.presented = Some(presented);
        self
    }

    fn check(&self, url: &Url) -> Result<(), ConnectorError> {
        if self.tunneled {
            check_shape(url)
        } else {
            check_url(&self.egress, url)
        }
    }

    /// The most this client reads of one answer.
    pub fn body_limit(&self) -> usize {
        self.egress.response_max_bytes()
    }

    /// The whole body of an answer, failing the job (not the process) when it is
    /// over the limit, whatever the answer's headers claim.
    pub async fn read_bytes(&self, response: Response) -> Result<Vec<u8>, ConnectorError> {
        let body = read_capped(response, self.body_limit(), true).await?;
        self.spend(body.len())?;
        Ok(body)
    }

    /// Counts `n` bytes against the client's budget: past it, the job fails.
    fn spend(&self, n: usize) -> Result<(), ConnectorError> {
        let left = self
            .budget
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
                Some(left.saturating_sub(n))
            })
            .unwrap_or(0);
        if n > left {
            return Err(ConnectorError::new(
                Fault::Limit,
                format!(
                    "the server's answers came to more than {} bytes in all, the limit (target_read_max_bytes)",
                    self.egress.read_budget()
                ),
                "the server keeps sending more: check that the endpoint is the right one, or ask the operator to raise ONRAMP_TARGET_READ_MAX_BYTES",
            ));
        }
        Ok(())
    }

    /// The body as text (invalid UTF-8 replaced), under the limit.
    pub async fn read_text(&self, response: Response) -> Result<String, ConnectorError> {
        let bytes = self.read_bytes(response).await?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }

    /// The body as JSON under the limit; a body that is not JSON reads as `Null`,
    /// so callers report the answer's status rather than a parse error.
    pub async fn read_json(&self, response: Response) -> Result<serde_json::Value, ConnectorError> {
        let bytes = self.read_bytes(response).await?;
        Ok(serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null))
    }

    /// At most the first `max` bytes of an answer (a ranged read the server may
    /// have answered with the whole object).
    pub async fn read_prefix(
        &self,
        response: Response,
        max: usize,
    ) -> Result<Vec<u8>, ConnectorError> {
        let body = read_capped(response, max.min(self.body_limit()), false).await?;
        self.spend(body.len())?;
        Ok(body)
    }

    /// The start of an error answer (at most `ERROR_BODY_MAX_BYTES`), for quoting.
    pub async fn read_error_text(&self, response: Response) -> String {
        let bytes = read_capped(response, ERROR_BODY_MAX_BYTES, false)
            .await
            .unwrap_or_default();
        String::from_utf8_lossy(&bytes).into_owned()
    }
}

/// The step a request is made in: when it must be over, and how often a busy server
/// (429, 503) made onramp wait, for the step's message.
pub struct StepBudget {
    pub deadline: tokio::time::Instant,
    pub busy_waits: std::sync::atomic::AtomicU32,
}

tokio::task_local! {
    static STEP: Arc<StepBudget>;
}

/// How often a request a server answered as busy (429, 503, a rate limit) is sent
/// again within one call.
pub const BUSY_RETRIES: u32 = 4;

/// Waits `wait` before a busy server is asked again, counted as one of the step's
/// waits; false, without waiting, when the wait would outlast the step (the step
/// then ends with the server's answer instead of a timeout).
pub async fn busy_wait(wait: Duration, reason: &'static str) -> bool {
    let deadline = STEP.try_with(|s| s.deadline).ok();
    if deadline.is_some_and(|d| tokio::time::Instant::now() + wait >= d) {
        return false;
    }
    metrics::counter!("onramp_target_retries_total", "reason" => reason).increment(1);
    let _ = STEP.try_with(|s| s.busy_waits.fetch_add(1, Ordering::SeqCst));
    tokio::time::sleep(wait).await;
    true
}

/// Runs `work` as a step ending by `deadline`; its output and the busy waits in it.
pub async fn within_step<T>(
    deadline: tokio::time::Instant,
    work: impl std::future::Future<Output = T>,
) -> (T, u32) {
    let budget = Arc::new(StepBudget {
        deadline,
        busy_waits: std::sync::atomic::AtomicU32::new(0),
    });
    let out = STEP.scope(budget.clone(), work).await;
    (out, budget.busy_waits.load(Ordering::SeqCst))
}

/// The pause a `Retry-After` header asks for: seconds, or an HTTP date.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let value = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim();
    if let Ok(seconds) = value.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(value).ok()?;
    (at.with_timezone(&chrono::Utc) - chrono::Utc::now())
        .to_std()
        .ok()
}

/// reqwest's error text names the URL, which may carry a presigned query; keep
/// only what went wrong.
fn without_url(e: &reqwest::Error) -> String {
    let text = e.to_string();
    match e.url() {
        Some(url) => text.replace(url.as_str(), "the URL"),
        None => text,
    }
}

/// The fault for an answer over the limit.
pub fn too_large(limit: usize) -> ConnectorError {
    ConnectorError::new(
        Fault::Limit,
        format!(
            "the server's answer is larger than the limit of {limit} bytes (target_response_max_bytes)"
        ),
        "the server sent more than any schema listing needs: check that the endpoint is the right one, or ask the operator to raise ONRAMP_TARGET_RESPONSE_MAX_BYTES",
    )
}

/// Reads at most `limit` bytes: over it, an error when `fail` is set, else the
/// first `limit` bytes. The declared length is never trusted for the allocation.
async fn read_capped(
    mut response: Response,
    limit: usize,
    fail: bool,
) -> Result<Vec<u8>, ConnectorError> {
    if fail && response.content_length().is_some_and(|n| n > limit as u64) {
        return Err(too_large(limit));
    }
    let mut body = Vec::new();
    loop {
        let chunk = response.chunk().await.map_err(|e| {
            ConnectorError::new(
                if e.is_timeout() {
                    Fault::Timeout
                } else {
                    Fault::Unreachable
                },
                format!("reading the server's answer failed: {}", without_url(&e)),
                "the server closed the connection or stopped sending: check that it is not overloaded",
            )
        })?;
        let Some(chunk) = chunk else {
            return Ok(body);
        };
        if body.len() + chunk.len() > limit {
            if fail {
                return Err(too_large(limit));
            }
            body.extend_from_slice(&chunk[..limit - body.len()]);
            return Ok(body);
        }
        body.extend_from_slice(&chunk);
    }
}
