//! Each AWS SDK call as a span: [`AwsCallSpans`], installed on every client
//! this service builds (DynamoDB, EventBridge, Secrets Manager).
//!
//! The span opens when the call starts (before its request is built) under
//! whatever span is current, and closes when it ends, retries included: in
//! X-Ray an `aws` subsegment named after the service, with the operation,
//! the attempts and, for a failure, the error. A call given up by its
//! timeout (the future dropped) still closes its span, marked so.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
    FinalizerInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use aws_smithy_types::config_bag::{Storable, StoreReplace};
use tracing::field::Empty;
use tracing::Span;

/// The interceptor that makes each call of the client it is installed in a
/// span. Stateless: one value serves every client.
#[derive(Debug, Clone, Copy, Default)]
pub struct AwsCallSpans;

/// One call's span, kept in the call's own config bag until it ends.
#[derive(Debug)]
struct CallSpan {
    span: Span,
    attempts: AtomicU32,
    ended: AtomicBool,
}

impl Storable for CallSpan {
    type Storer = StoreReplace<Self>;
}

impl Drop for CallSpan {
    /// A call dropped before it ended (its timeout fired, or its caller
    /// gave up) says so in its span.
    fn drop(&mut self) {
        if !self.ended.load(Ordering::Relaxed) {
            self.span.record("otel.status_code", "ERROR");
            self.span
                .record("otel.status_message", "no answer: timed out or cancelled");
        }
    }
}

impl Intercept for AwsCallSpans {
    fn name(&self) -> &'static str {
        "AwsCallSpans"
    }

    /// The first hook that sees the operation's name: client interceptors'
    /// `read_before_execution` runs before the operation's configuration.
    fn read_before_serialization(
        &self,
        _context: &BeforeSerializationInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let (service, operation) = cfg
            .load::<Metadata>()
            .map_or(("unknown", "unknown"), |m| (m.service(), m.name()));
        let span = tracing::info_span!(
            "aws call",
            otel.kind = "client",
            rpc.system = "aws-api",
            rpc.service = service,
            rpc.method = operation,
            aws.service = service,
            aws.operation = operation,
            attempts = Empty,
            http.response.status_code = Empty,
            otel.status_code = Empty,
            otel.status_message = Empty,
        );
        cfg.interceptor_state().store_put(CallSpan {
            span,
            attempts: AtomicU32::new(0),
            ended: AtomicBool::new(false),
        });
        Ok(())
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(call) = cfg.load::<CallSpan>() {
            call.attempts.fetch_add(1, Ordering::Relaxed);
        }
        Ok(())
    }

    fn read_after_execution(
        &self,
        context: &FinalizerInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let Some(call) = cfg.load::<CallSpan>() else {
            return Ok(());
        };
        call.ended.store(true, Ordering::Relaxed);
        call.span
            .record("attempts", call.attempts.load(Ordering::Relaxed));
        let status = context.response().map(|r| r.status().as_u16());
        let error = match context.output_or_error() {
            Some(Err(error)) => Some(error.to_string()),
            _ => None,
        };
        super::record_answer(
            &call.span,
            status,
            error.as_ref().map(|e| e as &dyn std::fmt::Display),
        );
        Ok(())
    }
}
