//! The event source mapping's settings, read from the `RatingChanges` event
//! of `template.yaml` (a SAM `DynamoDB` event on the stream function), so the
//! local poller batches, filters and retries as the deployed mapping does.

use std::path::Path;
use std::time::Duration;

use thiserror::Error;
use yaml_rust2::{Yaml, YamlLoader};

use super::filter::{FilterError, FilterPattern};

/// The event's name in the template.
pub const EVENT_NAME: &str = "RatingChanges";
/// The function the poller invokes when the template does not name its binary.
pub const DEFAULT_FUNCTION: &str = "stream-rating-sync";

#[derive(Debug, Error)]
pub enum SettingsError {
    #[error("cannot read {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("the template is not YAML: {0}")]
    Yaml(String),
    #[error(
        "the template has no `{EVENT_NAME}` event of Type DynamoDB on any function \
         (the stream's event source mapping): the local poller reads its settings from it"
    )]
    NoEvent,
    #[error("`{EVENT_NAME}`'s {field}: {reason}")]
    Invalid { field: &'static str, reason: String },
    #[error("`{EVENT_NAME}`'s FilterCriteria: {0}")]
    Filter(#[from] FilterError),
}

/// Where a mapping starts reading a shard it has never read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartingPosition {
    /// Records written after the poller started.
    Latest,
    /// Every record the stream still holds.
    TrimHorizon,
}

/// What the poller takes from the mapping. The defaults are Lambda's.
#[derive(Debug, Clone, PartialEq)]
pub struct MappingSettings {
    /// The binary the function runs, as `cargo lambda watch` serves it.
    pub function_name: String,
    /// Records per invocation, at most.
    pub batch_size: usize,
    /// How long to gather records after the first before invoking.
    pub batching_window: Duration,
    /// Retries of a failed batch before its records are given up; `None`:
    /// until they are too old (Lambda's -1).
    pub maximum_retry_attempts: Option<u32>,
    /// Age at which a record is given up rather than invoked; `None`: never
    /// (Lambda's -1).
    pub maximum_record_age: Option<Duration>,
    /// Split a batch in two when the function fails on it.
    pub bisect_batch_on_function_error: bool,
    /// `FunctionResponseTypes: [ReportBatchItemFailures]`: the function's
    /// answer names the records that failed. Without it the answer is ignored.
    pub report_batch_item_failures: bool,
    pub starting_position: StartingPosition,
    /// The mapping's filters; a record goes through when any matches.
    pub filters: Vec<FilterPattern>,
    /// Whether the template gives the mapping an on-failure destination.
    pub has_on_failure_destination: bool,
}

impl Default for MappingSettings {
    fn default() -> Self {
        Self {
            function_name: DEFAULT_FUNCTION.into(),
            batch_size: 100,
            batching_window: Duration::ZERO,
            maximum_retry_attempts: None,
            maximum_record_age: None,
            bisect_batch_on_function_error: false,
            report_batch_item_failures: false,
            starting_position: StartingPosition::Latest,
            filters: Vec::new(),
            has_on_failure_destination: false,
        }
    }
}

impl MappingSettings {
    /// The settings from `template.yaml` at the root of the repository.
    pub fn from_template_file(path: &Path) -> Result<Self, SettingsError> {
        let text = std::fs::read_to_string(path).map_err(|e| SettingsError::Read {
            path: path.display().to_string(),
            reason: e.to_string(),
        })?;
        Self::from_template(&text)
    }

    /// The settings of the `RatingChanges` event in a template's text.
    pub fn from_template(template: &str) -> Result<Self, SettingsError> {
        let docs =
            YamlLoader::load_from_str(template).map_err(|e| SettingsError::Yaml(e.to_string()))?;
        let (function, event) = find_event(docs.first()).ok_or(SettingsError::NoEvent)?;
        let props = &event["Properties"];
        let defaults = Self::default();
        let seconds = |n: i64| Duration::from_secs(n.unsigned_abs());
        Ok(Self {
            function_name: function["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .unwrap_or(DEFAULT_FUNCTION)
                .to_owned(),
            batch_size: bounded(props, "BatchSize", 1..=10_000, false)?
                .map_or(defaults.batch_size, |n| n.unsigned_abs() as usize),
            batching_window: bounded(props, "MaximumBatchingWindowInSeconds", 0..=300, false)?
                .map_or(defaults.batching_window, seconds),
            maximum_retry_attempts: bounded(props, "MaximumRetryAttempts", 0..=10_000, true)?
                .map(|n| n.unsigned_abs() as u32),
            maximum_record_age: bounded(props, "MaximumRecordAgeInSeconds", 60..=604_800, true)?
                .map(seconds),
            bisect_batch_on_function_error: boolean(props, "BisectBatchOnFunctionError")?,
            report_batch_item_failures: props["FunctionResponseTypes"].as_vec().is_some_and(
                |types| {
                    types
                        .iter()
                        .any(|t| t.as_str() == Some("ReportBatchItemFailures"))
                },
            ),
            starting_position: starting_position(props)?,
            filters: filters(props)?,
            has_on_failure_destination: !props["DestinationConfig"]["OnFailure"].is_badvalue(),
        })
    }
}

/// The function with the `RatingChanges` event of type DynamoDB, and the event.
fn find_event(doc: Option<&Yaml>) -> Option<(&Yaml, &Yaml)> {
    doc?["Resources"]
        .as_hash()?
        .values()
        .filter(|r| r["Type"].as_str() == Some("AWS::Serverless::Function"))
        .find_map(|function| {
            let event = &function["Properties"]["Events"][EVENT_NAME];
            (event["Type"].as_str() == Some("DynamoDB")).then_some((function, event))
        })
}

/// An integer property in `allowed`; `None` when absent, or when it is -1
/// and `minus_one_unlimits` (Lambda's "no limit").
fn bounded(
    props: &Yaml,
    field: &'static str,
    allowed: std::ops::RangeInclusive<i64>,
    minus_one_unlimits: bool,
) -> Result<Option<i64>, SettingsError> {
    match integer(props, field)? {
        None => Ok(None),
        Some(-1) if minus_one_unlimits => Ok(None),
        Some(n) if allowed.contains(&n) => Ok(Some(n)),
        Some(n) => {
            let range = format!("{}..={}", allowed.start(), allowed.end());
            Err(invalid(
                field,
                if minus_one_unlimits {
                    format!("{n} is neither -1 nor in {range}")
                } else {
                    format!("{n} is not in {range}")
                },
            ))
        }
    }
}

/// A boolean property, false when absent.
fn boolean(props: &Yaml, field: &'static str) -> Result<bool, SettingsError> {
    match &props[field] {
        Yaml::BadValue => Ok(false),
        Yaml::Boolean(b) => Ok(*b),
        other => Err(invalid(field, format!("{other:?} is not a boolean"))),
    }
}

fn starting_position(props: &Yaml) -> Result<StartingPosition, SettingsError> {
    match props["StartingPosition"].as_str() {
        Some("LATEST") => Ok(StartingPosition::Latest),
        Some("TRIM_HORIZON") => Ok(StartingPosition::TrimHorizon),
        other => Err(invalid(
            "StartingPosition",
            format!("{other:?} is neither LATEST nor TRIM_HORIZON"),
        )),
    }
}

/// The mapping's filter patterns; none when it has no `FilterCriteria`.
fn filters(props: &Yaml) -> Result<Vec<FilterPattern>, SettingsError> {
    match &props["FilterCriteria"]["Filters"] {
        Yaml::BadValue => Ok(Vec::new()),
        Yaml::Array(filters) => filters
            .iter()
            .map(|filter| match &filter["Pattern"] {
                Yaml::String(text) => Ok(FilterPattern::parse(text)?),
                other => Err(invalid(
                    "FilterCriteria",
                    format!("a Pattern must be a JSON string, not {other:?}"),
                )),
            })
            .collect(),
        other => Err(invalid(
            "FilterCriteria",
            format!("Filters must be a list, not {other:?}"),
        )),
    }
}

fn invalid(field: &'static str, reason: String) -> SettingsError {
    SettingsError::Invalid { field, reason }
}

/// An integer property, written as a number or a quoted number.
fn integer(props: &Yaml, field: &'static str) -> Result<Option<i64>, SettingsError> {
    match &props[field] {
        Yaml::BadValue => Ok(None),
        Yaml::Integer(n) => Ok(Some(*n)),
        Yaml::String(text) => text
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| invalid(field, format!("{text:?} is not a whole number"))),
        other => Err(invalid(field, format!("{other:?} is not a whole number"))),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// The event as the template branch adds it (issue 13), in a template of
    /// its own until that lands.
    pub(crate) const FIXTURE: &str = r#"
AWSTemplateFormatVersion: "2010-09-09"
Transform: AWS::Serverless-2016-10-31
Resources:
  ScheduledRatingSyncFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildProperties:
        Binary: scheduled-rating-sync
    Properties:
      Events:
        Schedule:
          Type: Schedule
          Properties:
            Schedule: rate(30 minutes)
  StreamRatingSyncFunction:
    Type: AWS::Serverless::Function
    Metadata:
      BuildMethod: rust-cargolambda
      BuildProperties:
        Binary: stream-rating-sync
    Properties:
      Events:
        RatingChanges:
          Type: DynamoDB
          Properties:
            Stream:
              Fn::GetAtt: [RatingsTable, StreamArn]
            StartingPosition: LATEST
            BatchSize: 10
            MaximumBatchingWindowInSeconds: 1
            FunctionResponseTypes: [ReportBatchItemFailures]
            BisectBatchOnFunctionError: true
            MaximumRetryAttempts: 3
            MaximumRecordAgeInSeconds: 300
            DestinationConfig: {OnFailure: {Type: SQS, Destination: {"Fn::GetAtt": [FastPathFailureQueue, Arn]}}}
            FilterCriteria:
              Filters:
                - Pattern: '{"eventName": ["INSERT", "MODIFY"], "dynamodb": {"NewImage": {"synced_to_saas": {"S": ["false"]}}}}'
"#;

    #[test]
    fn the_fixture_event_gives_the_mappings_settings() {
        let settings = MappingSettings::from_template(FIXTURE).unwrap();
        assert_eq!(settings.function_name, "stream-rating-sync");
        assert_eq!(settings.batch_size, 10);
        assert_eq!(settings.batching_window, Duration::from_secs(1));
        assert_eq!(settings.maximum_retry_attempts, Some(3));
        assert_eq!(settings.maximum_record_age, Some(Duration::from_secs(300)));
        assert!(settings.bisect_batch_on_function_error);
        assert!(settings.report_batch_item_failures);
        assert_eq!(settings.starting_position, StartingPosition::Latest);
        assert!(settings.has_on_failure_destination);
        assert_eq!(settings.filters.len(), 1);
        let pending = json!({"eventName": "INSERT",
            "dynamodb": {"NewImage": {"synced_to_saas": {"S": "false"}}}});
        let synced = json!({"eventName": "INSERT",
            "dynamodb": {"NewImage": {"synced_to_saas": {"S": "true"}}}});
        assert!(settings.filters[0].matches(&pending));
        assert!(!settings.filters[0].matches(&synced));
    }

    #[test]
    fn a_template_without_the_event_says_so() {
        let without = FIXTURE.replace("RatingChanges:", "SomethingElse:");
        let err = MappingSettings::from_template(&without).unwrap_err();
        assert!(matches!(err, SettingsError::NoEvent));
        assert!(err.to_string().contains("RatingChanges"), "{err}");
        assert!(matches!(
            MappingSettings::from_template("Resources: {}"),
            Err(SettingsError::NoEvent)
        ));
        assert!(matches!(
            MappingSettings::from_template("a: ["),
            Err(SettingsError::Yaml(_))
        ));
    }

    #[test]
    fn the_repositorys_template_has_the_event_or_says_it_has_not() {
        match MappingSettings::from_template_file(&crate::tables::template_path()) {
            Ok(settings) => assert!(settings.batch_size >= 1),
            Err(SettingsError::NoEvent) => {}
            Err(other) => panic!("template.yaml: {other}"),
        }
    }

    #[test]
    fn omitted_settings_are_lambdas_defaults_and_minus_one_is_no_limit() {
        let minimal = r#"
Resources:
  F:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        RatingChanges:
          Type: DynamoDB
          Properties:
            StartingPosition: TRIM_HORIZON
            MaximumRetryAttempts: -1
            MaximumRecordAgeInSeconds: "-1"
"#;
        let settings = MappingSettings::from_template(minimal).unwrap();
        assert_eq!(
            settings,
            MappingSettings {
                starting_position: StartingPosition::TrimHorizon,
                ..MappingSettings::default()
            }
        );
    }

    #[test]
    fn values_lambda_would_refuse_are_refused() {
        for (from, to, field) in [
            ("BatchSize: 10", "BatchSize: 0", "BatchSize"),
            (
                "MaximumRecordAgeInSeconds: 300",
                "MaximumRecordAgeInSeconds: 30",
                "MaximumRecordAgeInSeconds",
            ),
            (
                "MaximumRetryAttempts: 3",
                "MaximumRetryAttempts: three",
                "MaximumRetryAttempts",
            ),
            (
                "StartingPosition: LATEST",
                "StartingPosition: AT_TIMESTAMP",
                "StartingPosition",
            ),
        ] {
            let broken = FIXTURE.replace(from, to);
            match MappingSettings::from_template(&broken) {
                Err(SettingsError::Invalid { field: f, .. }) => assert_eq!(f, field),
                other => panic!("{to}: {other:?}"),
            }
        }
        let content_filter = FIXTURE.replace(r#"["false"]"#, r#"[{"exists": true}]"#);
        assert!(matches!(
            MappingSettings::from_template(&content_filter),
            Err(SettingsError::Filter(FilterError::Unsupported(_)))
        ));
    }
}
