//! What a run costs: [`RequestCounter`] counts the DynamoDB requests a
//! client sends (every attempt, retries included), split into reads and
//! writes, so a run's report can say what it cost per synced rating.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};

pub use crate::report::RequestCount;

/// Counts the requests of the clients it is installed in; clones share the
/// counts.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter {
    reads: Arc<AtomicU64>,
    writes: Arc<AtomicU64>,
}

impl RequestCounter {
    /// The requests counted so far; subtract an earlier count to get one
    /// run's share.
    pub fn now(&self) -> RequestCount {
        RequestCount {
            reads: self.reads.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
        }
    }

    fn count(&self, operation: &str) {
        let counter = if is_read(operation) {
            &self.reads
        } else {
            &self.writes
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

/// Reads by operation name; everything else changes data (or tables).
fn is_read(operation: &str) -> bool {
    matches!(
        operation,
        "GetItem" | "BatchGetItem" | "Query" | "Scan" | "DescribeTable" | "TransactGetItems"
    )
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), aws_sdk_dynamodb::error::BoxError> {
        self.count(dynamodb_operation(context));
        Ok(())
    }
}

/// The operation a DynamoDB request is: DynamoDB's JSON protocol names it in
/// X-Amz-Target ("DynamoDB_20120810.UpdateItem" is "UpdateItem").
pub fn dynamodb_operation<'a>(context: &'a BeforeTransmitInterceptorContextRef<'_>) -> &'a str {
    context
        .request()
        .headers()
        .get("x-amz-target")
        .and_then(|target| target.rsplit('.').next())
        .unwrap_or("unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_writes_are_told_apart() {
        let counter = RequestCounter::default();
        for operation in [
            "Query",
            "GetItem",
            "UpdateItem",
            "PutItem",
            "DeleteItem",
            "BatchWriteItem",
        ] {
            counter.count(operation);
        }
        let clone = counter.clone();
        clone.count("Scan");
        assert_eq!(
            counter.now(),
            RequestCount {
                reads: 3,
                writes: 4
            }
        );
        let later = counter.now();
        counter.count("UpdateItem");
        assert_eq!(
            counter.now() - later,
            RequestCount {
                reads: 0,
                writes: 1
            }
        );
    }
}
