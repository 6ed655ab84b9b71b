//! Logs (tracing), traces (OpenTelemetry, exported over OTLP/HTTP when
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set), metrics (Prometheus text), and the W3C
//! trace context that carries a request's trace through the job message into the worker.

use std::collections::HashMap;
use std::sync::OnceLock;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider as _};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;

static METRICS: OnceLock<PrometheusHandle> = OnceLock::new();
static TRACER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Installs logging and tracing once; later calls (tests) are no-ops. Spans always
/// get OpenTelemetry ids (so logs carry trace ids); they are exported only when an
/// OTLP endpoint is configured through the standard `OTEL_EXPORTER_OTLP_*` variables.
pub fn init_logs(format: &str) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,lapin=warn,opentelemetry=warn"));
    let mut provider = SdkTracerProvider::builder().with_resource(
        opentelemetry_sdk::Resource::builder()
            .with_service_name("onramp")
            .build(),
    );
    let endpoint = [
        "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
        "OTEL_EXPORTER_OTLP_ENDPOINT",
    ]
    .iter()
    .any(|v| std::env::var_os(v).is_some());
    if endpoint {
        use opentelemetry_otlp::{Protocol, WithExportConfig};
        match opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpJson)
            .build()
        {
            Ok(exporter) => provider = provider.with_batch_exporter(exporter),
            Err(e) => eprintln!("otlp exporter not started: {e}"),
        }
    }
    let provider = provider.build();
    let otel = tracing_opentelemetry::layer().with_tracer(provider.tracer("onramp"));
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry().with(filter).with(otel);
    let installed = if format == "json" {
        registry.with(fmt.json().flatten_event(true)).try_init()
    } else {
        registry.with(fmt).try_init()
    };
    if installed.is_ok() {
        let _ = TRACER.set(provider);
    }
}

/// Exports what spans are still buffered; call before the process exits.
pub fn shutdown() {
    if let Some(provider) = TRACER.get() {
        let _ = provider.shutdown();
    }
}

/// The trace context of incoming `traceparent`/`tracestate` headers.
pub fn extract(headers: &HashMap<String, String>) -> opentelemetry::Context {
    TraceContextPropagator::new().extract(headers)
}

/// Makes `span` a child of the context carried by `headers`, when there is one.
pub fn continue_trace(span: &tracing::Span, headers: &HashMap<String, String>) {
    let cx = extract(headers);
    if cx.span().span_context().is_valid() {
        let _ = span.set_parent(cx);
    }
}

/// The `traceparent` to send onwards from `span`: its own context when tracing is
/// installed, else a new span id in the incoming trace (or a new trace).
pub fn trace_parent_of(span: &tracing::Span, incoming: Option<&str>) -> TraceParent {
    let cx = span.context();
    let sc = cx.span().span_context().clone();
    if sc.is_valid() {
        return TraceParent {
            trace_id: sc.trace_id().to_string(),
            span_id: sc.span_id().to_string(),
        };
    }
    let incoming = incoming.and_then(TraceParent::parse);
    TraceParent::child_of(incoming.as_ref())
}

/// The Prometheus handle, installing the recorder on first use.
pub fn metrics() -> &'static PrometheusHandle {
    METRICS.get_or_init(|| {
        // Histograms with buckets (not summaries), so that quantiles aggregate across
        // processes in PromQL: durations from 5 ms to 5 min, sizes from 1 kB to 100 MB.
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                metrics_exporter_prometheus::Matcher::Suffix("_seconds".into()),
                &[
                    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0,
                    120.0, 300.0,
                ],
            )
            .and_then(|b| {
                b.set_buckets_for_metric(
                    metrics_exporter_prometheus::Matcher::Suffix("_bytes".into()),
                    &[1e3, 1e4, 1e5, 1e6, 1e7, 5e7, 1e8],
                )
            })
            .expect("the bucket lists are not empty");
        let recorder = builder.build_recorder();
        let handle = recorder.handle();
        // Only one global recorder can exist; in tests several apps share it.
        let _ = metrics::set_global_recorder(recorder);
        handle
    })
}

/// A W3C `traceparent`: version 00, 16-byte trace id, 8-byte parent span id, flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TraceParent {
    pub trace_id: String,
    pub span_id: String,
}

impl TraceParent {
    pub fn parse(header: &str) -> Option<TraceParent> {
        let parts: Vec<&str> = header.trim().split('-').collect();
        let hex = |s: &str, n: usize| {
            s.len() == n
                && s.bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
        };
        if parts.len() != 4
            || parts[0] != "00"
            || !hex(parts[1], 32)
            || !hex(parts[2], 16)
            || !hex(parts[3], 2)
        {
            return None;
        }
        if parts[1].bytes().all(|b| b == b'0') || parts[2].bytes().all(|b| b == b'0') {
            return None;
        }
        Some(TraceParent {
            trace_id: parts[1].into(),
            span_id: parts[2].into(),
        })
    }

    /// Continues `incoming` (a new span in the same trace) or starts a new trace.
    pub fn child_of(incoming: Option<&TraceParent>) -> TraceParent {
        let trace_id = incoming
            .map(|p| p.trace_id.clone())
            .unwrap_or_else(|| hex::encode(rand::random::<[u8; 16]>()));
        TraceParent {
            trace_id,
            span_id: hex::encode(rand::random::<[u8; 8]>()),
        }
    }

    pub fn header(&self) -> String {
        format!("00-{}-{}-01", self.trace_id, self.span_id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_child_keeps_the_trace_and_gets_a_new_span() {
        let parent =
            TraceParent::parse("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01").unwrap();
        let child = TraceParent::child_of(Some(&parent));
        assert_eq!(child.trace_id, parent.trace_id);
        assert_ne!(child.span_id, parent.span_id);
        assert_eq!(TraceParent::parse(&child.header()), Some(child));
        assert!(
            TraceParent::parse("00-00000000000000000000000000000000-00f067aa0ba902b7-01").is_none()
        );
        assert!(TraceParent::parse("garbage").is_none());
    }
}
