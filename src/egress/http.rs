//! HTTP through the egress guard, for connectors that speak REST: names resolve
//! through the guard, IP-literal URLs are checked before the request, and every
//! redirect is checked again before it is followed.

use std::sync::Arc;

use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::{RequestBuilder, Response, Url};

use super::{Egress, denied};
use crate::connectors::{ConnectorError, Fault};

const MAX_REDIRECTS: usize = 5;

/// A reqwest client whose every connection passes the guard.
#[derive(Clone)]
pub struct GuardedClient {
    pub client: reqwest::Client,
    egress: Egress,
}

struct GuardResolver(Egress);

impl Resolve for GuardResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let egress = self.0.clone();
        Box::pin(async move {
            // reqwest puts the URL's port on the addresses itself.
            let addrs = egress
                .resolve_checked(name.as_str(), 0)
                .await
                .map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)?;
            Ok(Box::new(addrs.into_iter()) as Addrs)
        })
    }
}

/// Refuses URLs that are not plain http(s), that carry credentials, or whose
/// literal address the policy forbids. Names are checked when they resolve.
pub fn check_url(egress: &Egress, url: &Url) -> Result<(), ConnectorError> {
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
    match url.host() {
        None => Err(bad("it has no host")),
        Some(url::Host::Ipv4(ip)) => egress
            .policy
            .check(ip.into())
            .map_err(|r| denied(&ip.to_string(), r)),
        Some(url::Host::Ipv6(ip)) => egress
            .policy
            .check(ip.into())
            .map_err(|r| denied(&ip.to_string(), r)),
        Some(url::Host::Domain(_)) => Ok(()),
    }
}

impl GuardedClient {
    pub fn new(
        egress: Egress,
        builder: reqwest::ClientBuilder,
    ) -> Result<GuardedClient, ConnectorError> {
        let for_redirects = egress.clone();
        let policy = reqwest::redirect::Policy::custom(move |attempt| {
            if attempt.previous().len() >= MAX_REDIRECTS {
                return attempt.error(format!("more than {MAX_REDIRECTS} redirects"));
            }
            match check_url(&for_redirects, attempt.url()) {
                Ok(()) => attempt.follow(),
                Err(e) => attempt.error(e),
            }
        });
        let client = builder
            .dns_resolver(Arc::new(GuardResolver(egress.clone())))
            .redirect(policy)
            .build()
            .map_err(|e| {
                ConnectorError::new(
                    Fault::Protocol,
                    format!("http client: {e}"),
                    "this is a bug",
                )
            })?;
        Ok(GuardedClient { client, egress })
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
        check_url(&self.egress, &parsed)?;
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
        check_url(&self.egress, request.url())?;
        let host = request.url().host_str().unwrap_or_default().to_string();
        self.client.execute(request).await.map_err(|e| {
            let mut source: Option<&dyn std::error::Error> = Some(&e);
            while let Some(s) = source {
                if let Some(refused) = s.downcast_ref::<ConnectorError>() {
                    return refused.clone();
                }
                source = s.source();
            }
            if let Some(tls) = crate::connectors::tls::find_rustls_error(&e) {
                return crate::connectors::tls::tls_error(&host, tls);
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
                    format!("request to {host} failed: {e}"),
                    "check the URL and that the service accepts connections",
                )
            }
        })
    }
}
