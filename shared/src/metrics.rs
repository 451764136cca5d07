//! What a run costs and does, made visible.
//!
//! - [`RequestCounter`] counts the DynamoDB requests a client sends (every
//!   attempt, retries included), split into reads and writes, so a run's
//!   report can say what it cost per synced rating.
//! - [`emit_run_metrics`] prints a run's numbers as one CloudWatch Embedded
//!   Metric Format line: Lambda sends stdout to CloudWatch Logs, which turns
//!   such lines into metrics without a `PutMetricData` call on the hot path.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use serde::{Deserialize, Serialize};

use crate::report::SyncReport;

/// DynamoDB requests, as counted by the client.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RequestCount {
    pub reads: u64,
    pub writes: u64,
}

impl std::ops::Sub for RequestCount {
    type Output = Self;
    fn sub(self, earlier: Self) -> Self {
        Self {
            reads: self.reads.saturating_sub(earlier.reads),
            writes: self.writes.saturating_sub(earlier.writes),
        }
    }
}

/// Counts the requests of the clients it is installed in; clones share the
/// counts.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter {
    reads: Arc<AtomicU64>,
    writes: Arc<AtomicU64>,
}

impl RequestCounter {
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

/// The namespace of the metrics, from `RATING_SYNC_METRICS_NAMESPACE`.
pub fn namespace() -> String {
    std::env::var("RATING_SYNC_METRICS_NAMESPACE")
        .ok()
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| "AtomRatingSync".to_owned())
}

/// The EMF document of one run: the metrics, under a `Function` dimension.
pub fn run_metrics(report: &SyncReport, namespace: &str, function: &str) -> serde_json::Value {
    let mut metrics = vec![
        ("Uploaded", "Count", report.uploaded),
        ("Updated", "Count", report.updated),
        ("Failed", "Count", report.failed),
        ("Parked", "Count", report.parked),
        ("Conflicts", "Count", report.conflicts),
        ("Backlog", "Count", report.pending_count.unwrap_or(0)),
        ("DurationMs", "Milliseconds", report.duration_ms),
        ("BreakerOpen", "Count", u64::from(report.breaker_open)),
        ("RunSucceeded", "Count", u64::from(report.success)),
        ("RunFailed", "Count", u64::from(!report.success)),
    ];
    if let Some(count) = report.consecutive_failed_runs {
        metrics.push(("ConsecutiveFailedRuns", "Count", count));
    }
    let mut document = serde_json::json!({
        "_aws": {
            "Timestamp": chrono::Utc::now().timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": namespace,
                "Dimensions": [["Function"]],
                "Metrics": metrics
                    .iter()
                    .map(|(name, unit, _)| serde_json::json!({"Name": name, "Unit": unit}))
                    .collect::<Vec<_>>(),
            }],
        },
        "Function": function,
        "run_id": report.run_id,
    });
    if let Some(fields) = document.as_object_mut() {
        for (name, _, value) in metrics {
            fields.insert(name.to_owned(), value.into());
        }
    }
    document
}

/// Prints the run's metrics as one EMF line on stdout.
pub fn emit_run_metrics(report: &SyncReport, function: &str) {
    println!("{}", run_metrics(report, &namespace(), function));
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

    #[test]
    fn a_run_becomes_one_emf_document() {
        let report = SyncReport {
            run_id: "run-1".into(),
            success: true,
            uploaded: 7,
            failed: 2,
            parked: 1,
            conflicts: 3,
            pending_count: Some(40),
            duration_ms: 1234,
            ..SyncReport::default()
        };
        let doc = run_metrics(&report, "Ns", "scheduled-rating-sync");
        let declared = &doc["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(declared["Namespace"], "Ns");
        assert_eq!(declared["Dimensions"][0][0], "Function");
        for metric in declared["Metrics"].as_array().unwrap() {
            let name = metric["Name"].as_str().unwrap();
            assert!(doc[name].is_u64(), "{name} has a value");
        }
        assert_eq!(doc["Uploaded"], 7);
        assert_eq!(doc["Backlog"], 40);
        assert_eq!(doc["BreakerOpen"], 0);
        assert_eq!(doc["RunSucceeded"], 1);
        assert_eq!(doc["Function"], "scheduled-rating-sync");
        assert!(
            doc.get("ConsecutiveFailedRuns").is_none(),
            "only for scheduled runs"
        );

        let scheduled = SyncReport {
            consecutive_failed_runs: Some(2),
            ..report
        };
        let doc = run_metrics(&scheduled, "Ns", "scheduled-rating-sync");
        assert_eq!(doc["ConsecutiveFailedRuns"], 2);
        assert!(doc["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|metric| metric["Name"] == "ConsecutiveFailedRuns"));
    }
}
