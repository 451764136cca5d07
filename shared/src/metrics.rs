//! What the sync does, made visible as CloudWatch metrics.
//!
//! Every metric is a CloudWatch Embedded Metric Format line on stdout:
//! Lambda sends stdout to CloudWatch Logs, which turns such lines into
//! metrics without a `PutMetricData` call on the hot path. The namespace is
//! [`namespace`]'s; every document has a `Function` dimension. Three
//! emitters, each with the pure function that builds its documents (which
//! the tests read):
//!
//! - [`emit_run_metrics`] ([`run_metrics`]): a run's numbers, scheduled or
//!   admin, then its freshness;
//! - [`emit_fast_path_metrics`] ([`fast_path_metrics`]): a fast-path batch's
//!   numbers and the stream records it asked back or ignored, then its
//!   freshness;
//! - [`emit_freshness`] ([`freshness_metrics`]): `RatingFreshness`, the
//!   seconds from each rating's local write to the marketplace's acceptance,
//!   one value per rating.
//!
//! What a run's DynamoDB requests cost is counted elsewhere
//! ([`crate::store::requests`]) and goes into its report, not here.

use crate::config::{settings, Lookup};
use crate::report::SyncReport;
use crate::sync::FastPathReport;

/// The namespace of the metrics, from `RATING_SYNC_METRICS_NAMESPACE`
/// ([`settings::METRICS_NAMESPACE`]).
pub fn namespace() -> String {
    Lookup::PROCESS.text(&settings::METRICS_NAMESPACE)
}

/// One metric of an EMF document: its name, unit and value.
type Metric<'a> = (&'a str, &'a str, serde_json::Value);

/// An EMF document of `metrics` under a `Function` dimension.
fn document(
    namespace: &str,
    function: &str,
    run_id: &str,
    metrics: Vec<Metric>,
) -> serde_json::Value {
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
    });
    if let Some(fields) = document.as_object_mut() {
        if !run_id.is_empty() {
            fields.insert("run_id".to_owned(), run_id.into());
        }
        for (name, _, value) in metrics {
            fields.insert(name.to_owned(), value);
        }
    }
    document
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
    let metrics = metrics
        .into_iter()
        .map(|(name, unit, value)| (name, unit, value.into()))
        .collect();
    document(namespace, function, &report.run_id, metrics)
}

/// Prints the run's metrics as one EMF line on stdout, and its freshness.
pub fn emit_run_metrics(report: &SyncReport, function: &str) {
    println!("{}", run_metrics(report, &namespace(), function));
    emit_freshness(&report.freshness_seconds, function);
}

/// The EMF document of one fast-path batch, under a `Function` dimension:
/// what it uploaded, failed and parked, the records it asked the stream to
/// deliver again, and those that needed nothing.
pub fn fast_path_metrics(
    batch: &FastPathReport,
    namespace: &str,
    function: &str,
) -> serde_json::Value {
    let report = &batch.report;
    let metrics = [
        ("Uploaded", "Count", report.uploaded),
        ("Updated", "Count", report.updated),
        ("Failed", "Count", report.failed),
        ("Parked", "Count", report.parked),
        ("RecordsRetried", "Count", batch.retry.len() as u64),
        ("RecordsIgnored", "Count", batch.ignored),
        ("BreakerOpen", "Count", u64::from(report.breaker_open)),
    ];
    let metrics = metrics
        .into_iter()
        .map(|(name, unit, value)| (name, unit, value.into()))
        .collect();
    document(namespace, function, &report.run_id, metrics)
}

/// Prints a fast-path batch's metrics and freshness as EMF lines on stdout.
pub fn emit_fast_path_metrics(batch: &FastPathReport, function: &str) {
    println!("{}", fast_path_metrics(batch, &namespace(), function));
    emit_freshness(&batch.report.freshness_seconds, function);
}

/// The freshness metric: its name and unit.
const FRESHNESS: (&str, &str) = ("RatingFreshness", "Seconds");

/// Values of one metric an EMF document may carry.
const VALUES_PER_DOCUMENT: usize = 100;

/// The EMF documents of `RatingFreshness`: the seconds from each rating's
/// local write to the marketplace's acceptance, at most 100 values per
/// document (EMF's limit), so CloudWatch computes p50 and p99 over every
/// rating, not over per-run averages.
pub fn freshness_metrics(
    seconds: &[f64],
    namespace: &str,
    function: &str,
) -> Vec<serde_json::Value> {
    let (name, unit) = FRESHNESS;
    seconds
        .chunks(VALUES_PER_DOCUMENT)
        .map(|values| document(namespace, function, "", vec![(name, unit, values.into())]))
        .collect()
}

/// Prints the freshness of the ratings synced as EMF lines on stdout.
pub fn emit_freshness(seconds: &[f64], function: &str) {
    for document in freshness_metrics(seconds, &namespace(), function) {
        println!("{document}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn freshness_is_every_value_in_documents_of_at_most_a_hundred() {
        let seconds: Vec<f64> = (0..250).map(|i| f64::from(i) / 10.0).collect();
        let docs = freshness_metrics(&seconds, "Ns", "stream-rating-sync");
        let sizes: Vec<usize> = docs
            .iter()
            .map(|doc| doc["RatingFreshness"].as_array().unwrap().len())
            .collect();
        assert_eq!(sizes, [100, 100, 50]);
        assert_eq!(docs[2]["RatingFreshness"][49], 24.9);
        let declared = &docs[0]["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(declared["Metrics"][0]["Name"], "RatingFreshness");
        assert_eq!(declared["Metrics"][0]["Unit"], "Seconds");
        assert_eq!(docs[0]["Function"], "stream-rating-sync");
        assert!(freshness_metrics(&[], "Ns", "f").is_empty());
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
