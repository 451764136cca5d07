//! Traces for AWS X-Ray: a run, a stream batch and an admin call each one
//! trace, with its marketplace and AWS calls inside.
//!
//! With active tracing (`Tracing: Active`, template.yaml), Lambda starts a
//! trace for each invocation, records the function's own segment, hands
//! the invocation its trace header (`Root=…;Parent=…;Sampled=…`) and runs
//! an X-Ray daemon beside the function at `AWS_XRAY_DAEMON_ADDRESS`. This
//! module hangs the invocation's work under that segment, from the
//! `tracing` spans the code already has, through OpenTelemetry
//! (`tracing-opentelemetry`) and `opentelemetry-aws`'s X-Ray exporter:
//! - [`invocation`] wraps one invocation in a span whose parent is the
//!   function's segment, as the trace header names it;
//! - every span of this service's crates inside it becomes a subsegment:
//!   the run (`sync_run`, with its run id as the annotation `run_id`), the
//!   fast path's batch, ...;
//! - [`AwsCallSpans`], an interceptor on every AWS SDK client, makes each
//!   DynamoDB, EventBridge and Secrets Manager call a span (`aws_calls.rs`);
//! - [`client_span`] does the same for each marketplace request, which
//!   carries the trace on in its `X-Amzn-Trace-Id` header ([`header`]).
//!
//! Sampling is Lambda's: under a header with `Sampled=0` nothing is
//! recorded. Each span goes to the daemon as it ends, one UDP datagram:
//! nothing waits in a buffer when Lambda freezes the sandbox after the
//! answer, and no flush can hold an answer up. Without
//! `AWS_XRAY_DAEMON_ADDRESS` (locally, in the benchmarks) there is no
//! exporter: the spans are the logs' context only, as before.

mod aws_calls;

pub use aws_calls::AwsCallSpans;

use std::collections::HashMap;
use std::fmt::Display;
use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::{TraceContextExt, TracerProvider};
use opentelemetry_aws::trace::{XrayIdGenerator, XrayPropagator};
use opentelemetry_aws::xray_exporter::daemon_client::XrayDaemonClient;
use opentelemetry_aws::xray_exporter::{SegmentTranslator, XrayExporter};
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use opentelemetry_sdk::Resource;
use tracing::field::Empty;
use tracing::level_filters::LevelFilter;
use tracing::{Instrument, Span, Subscriber};
use tracing_opentelemetry::OpenTelemetrySpanExt;
use tracing_subscriber::filter::{filter_fn, FilterExt, Targets};
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::config::settings::{Optional, FUNCTION_NAME, LOG_GROUP, XRAY_DAEMON_ADDRESS};

/// The header that carries a trace, to the marketplace and from Lambda.
pub const TRACE_HEADER: &str = "x-amzn-trace-id";

/// The span attribute X-Ray indexes as an annotation, to find a run's
/// trace by the run id its logs and report show.
pub const RUN_ID: &str = "run_id";

/// Installs the JSON logs ([`crate::logging`]) and, where Lambda runs an
/// X-Ray daemon, the traces; a second call does nothing.
pub fn init() {
    let (traces, problem) = match layer() {
        Ok(traces) => (traces, None),
        Err(problem) => (None, Some(problem)),
    };
    let _ = tracing_subscriber::registry()
        .with(crate::logging::layer())
        .with(traces)
        .try_init();
    if let Some(problem) = problem {
        tracing::warn!(variable = XRAY_DAEMON_ADDRESS.name, %problem, "no traces");
    }
}

/// The span attribute X-Ray indexes as an annotation to tell an
/// invocation that started the process: Powertools' name for it, so that
/// `annotation.ColdStart = true` finds the same traces in either.
pub const COLD_START_ATTRIBUTE: &str = "ColdStart";

/// Whether the next invocation is the process's first.
static COLD_START: AtomicBool = AtomicBool::new(true);

/// The provider behind the layer, kept for the life of the process.
static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// The layer that sends this service's spans to the X-Ray daemon, when
/// `AWS_XRAY_DAEMON_ADDRESS` names one; `None` without it; the problem
/// when it names nothing usable (which [`init`] logs: a trace is not worth
/// a sync, so the function runs on without traces).
pub fn layer<S>() -> Result<Option<impl Layer<S>>, String>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    let Some(address) = variable(&XRAY_DAEMON_ADDRESS) else {
        return Ok(None);
    };
    let (layer, provider) = exporting_to(daemon_address(&address)?)?;
    PROVIDER.get_or_init(|| provider);
    Ok(Some(layer))
}

/// The layer sending to the daemon at `address`, and its provider, which
/// must live as long as spans are sent.
fn exporting_to<S>(address: SocketAddr) -> Result<(impl Layer<S>, SdkTracerProvider), String>
where
    S: Subscriber + for<'span> LookupSpan<'span>,
{
    let client = XrayDaemonClient::new(address)
        .map_err(|e| format!("no socket for the daemon at {address} ({e})"))?;
    let mut translator = SegmentTranslator::new()
        .with_indexed_attr(RUN_ID.to_owned())
        .with_indexed_attr(COLD_START_ATTRIBUTE.to_owned());
    if let Some(group) = variable(&LOG_GROUP) {
        translator = translator.with_log_group_name(group);
    }
    let mut resource = Resource::builder();
    if let Some(function) = variable(&FUNCTION_NAME) {
        resource = resource.with_service_name(function);
    }
    let provider = SdkTracerProvider::builder()
        .with_id_generator(XrayIdGenerator::default())
        .with_sampler(Sampler::ParentBased(Box::new(Sampler::AlwaysOn)))
        .with_resource(resource.build())
        .with_simple_exporter(XrayExporter::new(client).with_translator(translator))
        .build();
    let tracer = provider.tracer("atom-rating-sync");
    let own_crates = crate::logging::OWN_CRATES
        .iter()
        .fold(Targets::new(), |targets, own| {
            targets.with_target(*own, LevelFilter::TRACE)
        });
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_location(false)
        .with_threads(false)
        .with_tracked_inactivity(false)
        .with_filter(own_crates.and(filter_fn(|meta| meta.is_span())));
    Ok((layer, provider))
}

/// `entry`'s value in the process environment, trimmed; blank is unset, as
/// the configuration's loader reads every setting (which this module, below
/// it, cannot call).
fn variable(entry: &Optional) -> Option<String> {
    std::env::var(entry.name)
        .ok()
        .map(|value| value.trim().to_owned())
        .filter(|value| !value.is_empty())
}

/// The daemon's UDP address from `AWS_XRAY_DAEMON_ADDRESS`: `host:port`,
/// or the X-Ray SDKs' `tcp:host:port udp:host:port`.
pub fn daemon_address(value: &str) -> Result<SocketAddr, String> {
    let words: Vec<&str> = value.split_whitespace().collect();
    let udp = words
        .iter()
        .find_map(|w| w.strip_prefix("udp:"))
        .or_else(|| match words.as_slice() {
            [only] if !only.starts_with("tcp:") => Some(*only),
            _ => None,
        })
        .ok_or_else(|| format!("{value:?} is not host:port nor names a udp: address"))?;
    udp.to_socket_addrs()
        .map_err(|e| format!("{udp:?} is not a host:port ({e})"))?
        .next()
        .ok_or_else(|| format!("{udp:?} names no address"))
}

/// Runs one invocation's `work` in a span named `name`, whose parent is the
/// function's segment that the invocation's trace header names (Lambda's
/// `Lambda-Runtime-Trace-Id`): the invocation is one trace, the
/// function's. Without a usable header the span is a segment of its own,
/// the root of a new trace. `trigger` is what invoked the function
/// (`timer`, `datasource`, `http`), as OpenTelemetry's `faas.trigger`.
pub async fn invocation<F: std::future::Future>(
    trace_header: Option<&str>,
    name: &'static str,
    trigger: &'static str,
    work: F,
) -> F::Output {
    let parent = trace_header
        .map(|header| {
            let carrier = HashMap::from([(TRACE_HEADER.to_owned(), header.to_owned())]);
            XrayPropagator::default().extract(&carrier)
        })
        .filter(|parent| parent.span().span_context().is_valid());
    let cold = COLD_START.swap(false, Ordering::Relaxed);
    let span = match parent {
        Some(parent) => {
            let span = tracing::info_span!(
                "invocation",
                otel.name = name,
                faas.trigger = trigger,
                ColdStart = cold
            );
            // Fails only when no layer records the span: nothing to trace.
            let _ = span.set_parent(parent);
            span
        }
        None => tracing::info_span!(
            "invocation",
            otel.name = name,
            otel.kind = "server",
            faas.trigger = trigger,
            ColdStart = cold
        ),
    };
    work.instrument(span).await
}

/// A span for one call to a service outside: a subsegment named `peer` in
/// X-Ray, with the request and, once [`record_answer`] is called, its
/// status. `url` must hold no secret (the marketplace's token travels in a
/// header, which no span records).
pub fn client_span(peer: &'static str, method: &str, url: &str) -> Span {
    tracing::info_span!(
        "outside call",
        otel.kind = "client",
        peer.service = peer,
        http.request.method = method,
        url.full = url,
        http.response.status_code = Empty,
        otel.status_code = Empty,
        otel.status_message = Empty,
    )
}

/// Records how a call in `span` ended: the status of an answer, if there
/// was one, and the error, if the call failed.
pub fn record_answer(span: &Span, status: Option<u16>, error: Option<&dyn Display>) {
    if let Some(status) = status {
        span.record("http.response.status_code", status);
    }
    if let Some(error) = error {
        span.record("otel.status_code", "ERROR");
        span.record("otel.status_message", tracing::field::display(error));
    }
}

/// The trace header that carries `span`'s trace on to the service it
/// calls, with `span` as the caller; `None` when nothing is traced.
pub fn header(span: &Span) -> Option<String> {
    let context = span.context();
    if !context.span().span_context().is_sampled() {
        return None;
    }
    let mut carrier = HashMap::new();
    XrayPropagator::default().inject_context(&context, &mut carrier);
    carrier.remove(TRACE_HEADER)
}

#[cfg(test)]
mod tests;
