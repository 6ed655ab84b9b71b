//! The AWS SDK's HTTP client, held to the egress guard like every other way onramp
//! reaches a target: names resolve through the guard (which refuses forbidden and
//! own addresses before any connection), literal-IP endpoints are checked before
//! the client exists, no proxy is used, and every answer is read with the same
//! size cap and per-client budget as the guarded reqwest client's.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::{Context, Poll};

use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns, ResolveDnsError};
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::config_bag::ConfigBag;
use bytes::Bytes;

use crate::egress::Egress;
use crate::egress::http::too_large;

/// Resolves through the guard. The SDK hands a resolver names only; the port is
/// the one endpoint's this client talks to, so onramp's own endpoints are refused
/// by address and port.
#[derive(Clone)]
struct GuardDns {
    egress: Egress,
    port: u16,
}

impl std::fmt::Debug for GuardDns {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuardDns")
            .field("port", &self.port)
            .finish()
    }
}

impl ResolveDns for GuardDns {
    fn resolve_dns<'a>(&'a self, name: &'a str) -> DnsFuture<'a> {
        DnsFuture::new(async move {
            let addrs = self
                .egress
                .resolve_checked(name, self.port)
                .await
                .map_err(ResolveDnsError::new)?;
            Ok(addrs.into_iter().map(|a| a.ip()).collect())
        })
    }
}

/// The SDK's client with the guard as resolver, and its answers capped.
pub fn client(egress: &Egress, port: u16) -> SharedHttpClient {
    let inner = aws_smithy_http_client::Builder::new()
        .tls_provider(aws_smithy_http_client::tls::Provider::Rustls(
            aws_smithy_http_client::tls::rustls_provider::CryptoMode::AwsLc,
        ))
        .build_with_resolver(GuardDns {
            egress: egress.clone(),
            port,
        });
    SharedHttpClient::new(Capped {
        inner,
        limit: egress.response_max_bytes(),
        budget: Arc::new(AtomicUsize::new(egress.read_budget())),
    })
}

#[derive(Debug)]
struct Capped {
    inner: SharedHttpClient,
    /// The most one answer may hold.
    limit: usize,
    /// What all answers of this client may still hold together.
    budget: Arc<AtomicUsize>,
}

impl HttpClient for Capped {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(CappedConnector {
            inner: self.inner.http_connector(settings, components),
            limit: self.limit,
            budget: self.budget.clone(),
        })
    }

    fn validate_base_client_config(
        &self,
        runtime_components: &RuntimeComponentsBuilder,
        cfg: &ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        self.inner
            .validate_base_client_config(runtime_components, cfg)
    }

    fn validate_final_config(
        &self,
        runtime_components: &RuntimeComponents,
        cfg: &ConfigBag,
    ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
        self.inner.validate_final_config(runtime_components, cfg)
    }
}

#[derive(Debug)]
struct CappedConnector {
    inner: SharedHttpConnector,
    limit: usize,
    budget: Arc<AtomicUsize>,
}

impl HttpConnector for CappedConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let sent = self.inner.call(request);
        let (limit, budget) = (self.limit, self.budget.clone());
        HttpConnectorFuture::new(async move {
            let response = sent.await?;
            Ok(response.map(|body| {
                SdkBody::from_body_1_x(CappedBody {
                    inner: Box::pin(body),
                    left: limit,
                    limit,
                    budget: budget.clone(),
                })
            }))
        })
    }
}

/// A body that ends with an error once it passes its own cap or the client's budget.
struct CappedBody {
    inner: Pin<Box<SdkBody>>,
    left: usize,
    limit: usize,
    budget: Arc<AtomicUsize>,
}

impl CappedBody {
    /// Takes `n` bytes from the answer's cap and the shared budget, or says which ran out.
    fn take(&mut self, n: usize) -> Result<(), usize> {
        if n > self.left {
            return Err(self.limit);
        }
        self.left -= n;
        self.budget
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |b| b.checked_sub(n))
            .map(drop)
            .map_err(|_| self.limit)
    }
}

impl http_body::Body for CappedBody {
    type Data = Bytes;
    type Error = aws_smithy_types::body::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, Self::Error>>> {
        let polled = self.inner.as_mut().poll_frame(cx);
        if let Poll::Ready(Some(Ok(frame))) = &polled
            && let Some(data) = frame.data_ref()
            && let Err(limit) = self.take(data.len())
        {
            return Poll::Ready(Some(Err(Box::new(too_large(limit)))));
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
