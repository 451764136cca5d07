//! How the store answers DynamoDB's error responses, against a client whose
//! every call is answered by an `aws-smithy-mocks` rule: throttling is
//! retried by the SDK and then becomes [`StoreError::Throttled`], a failed
//! condition is an answer rather than an error, and any other service error
//! is a [`StoreError::Request`] that names the table.
//!
//! The rules run in [`RuleMode::Sequential`]: each call must match the next
//! rule, so a call made out of order, or one too many, fails the test. A
//! modeled error is built as the SDK's deserializer builds one from
//! DynamoDB's response, with the error code in its metadata: the store and
//! the SDK's retry classifier both go by that code.

use std::time::Duration;

use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::error::ErrorMetadata;
use aws_sdk_dynamodb::operation::get_item::GetItemError;
use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemInput, PutItemOutput};
use aws_sdk_dynamodb::operation::query::QueryError;
use aws_sdk_dynamodb::operation::update_item::{
    UpdateItemError, UpdateItemInput, UpdateItemOutput,
};
use aws_sdk_dynamodb::types::error::{
    ConditionalCheckFailedException, ProvisionedThroughputExceededException, RequestLimitExceeded,
    ResourceNotFoundException, ThrottlingException,
};
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValuesOnConditionCheckFailure};
use aws_sdk_dynamodb::Client;
use aws_smithy_mocks::{mock, mock_client, Rule, RuleMode};
use chrono::{DateTime, Utc};

use super::{Disposition, FailureRecorded, LeaseOutcome, MarkOutcome, Store, StoreError};
use crate::config::TableNames;
use crate::rating::{Rating, SyncFailure};

/// Attempts per call, the first included.
const MAX_ATTEMPTS: u32 = 3;

const RATINGS: &str = "mock_skill_ratings";
const FAILED_UPLOADS: &str = "mock_failed_rating_uploads";
const SYNC_STATE: &str = "mock_rating_sync_state";

/// A store whose client answers from `rules`, in order, and retries as in
/// production (standard mode) but without waiting between attempts.
fn store(rules: &[&Rule]) -> Store {
    let client = mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, rules, |builder| {
        builder.retry_config(
            RetryConfig::standard()
                .with_max_attempts(MAX_ATTEMPTS)
                .with_initial_backoff(Duration::ZERO)
                .with_max_backoff(Duration::ZERO),
        )
    });
    let store = Store::new(client, TableNames::with_prefix("mock_"));
    assert_eq!(store.tables().ratings, RATINGS);
    assert_eq!(store.tables().failed_uploads, FAILED_UPLOADS);
    assert_eq!(store.tables().sync_state, SYNC_STATE);
    store
}

fn at() -> DateTime<Utc> {
    DateTime::from_timestamp(1_772_366_400, 0).expect("a valid timestamp")
}

fn rating() -> Rating {
    Rating {
        id: "r1".into(),
        tenant_id: "t1".into(),
        skill_id: "s1".into(),
        user_id: "u1".into(),
        rating: "4".into(),
        review: None,
        created_at: "2026-02-01T00:00:00.000Z".into(),
        updated_at: "2026-02-02T00:00:00.000Z".into(),
        version: 3,
        remote_rating_id: None,
        sync_failures: 0,
        sync_round: 0,
    }
}

/// A failed attempt at [`rating`], after `failures_before` earlier ones.
fn failure(failures_before: u32) -> SyncFailure {
    let rating = rating();
    SyncFailure {
        rating_id: rating.id,
        tenant_id: rating.tenant_id,
        failures_before,
        attempted: Some((rating.version, rating.updated_at)),
        message: "marketplace answered 503".into(),
        retryable: true,
        rated: None,
    }
}

fn retry_later() -> Disposition {
    Disposition::RetryAt(at() + chrono::Duration::minutes(10))
}

fn s(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn value<'a>(
    values: Option<&'a std::collections::HashMap<String, AttributeValue>>,
    name: &str,
) -> Option<&'a AttributeValue> {
    values.and_then(|values| values.get(name))
}

// DynamoDB's error responses, as the SDK deserializes them.

fn meta(code: &str, message: &str) -> ErrorMetadata {
    ErrorMetadata::builder().code(code).message(message).build()
}

const CONDITION_FAILED: &str = "The conditional request failed";
const THROUGHPUT_EXCEEDED: &str = "The level of configured provisioned throughput for the \
     table was exceeded. Consider increasing your provisioning level with the UpdateTable API.";
const THROTTLED: &str = "Rate of requests exceeds the allowed throughput.";
const LIMIT_EXCEEDED: &str = "Throughput exceeds the current throughput limit for your account.";
const NOT_FOUND: &str = "Requested resource not found";

fn condition_failed() -> ConditionalCheckFailedException {
    ConditionalCheckFailedException::builder()
        .message(CONDITION_FAILED)
        .meta(meta("ConditionalCheckFailedException", CONDITION_FAILED))
        .build()
}

fn throughput_exceeded() -> ProvisionedThroughputExceededException {
    ProvisionedThroughputExceededException::builder()
        .message(THROUGHPUT_EXCEEDED)
        .meta(meta(
            "ProvisionedThroughputExceededException",
            THROUGHPUT_EXCEEDED,
        ))
        .build()
}

fn throttling() -> ThrottlingException {
    ThrottlingException::builder()
        .message(THROTTLED)
        .meta(meta("ThrottlingException", THROTTLED))
        .build()
}

fn limit_exceeded() -> RequestLimitExceeded {
    RequestLimitExceeded::builder()
        .message(LIMIT_EXCEEDED)
        .meta(meta("RequestLimitExceeded", LIMIT_EXCEEDED))
        .build()
}

fn not_found() -> ResourceNotFoundException {
    ResourceNotFoundException::builder()
        .message(NOT_FOUND)
        .meta(meta("ResourceNotFoundException", NOT_FOUND))
        .build()
}

// The requests the store makes, told apart by what they write.

/// `mark_synced`'s first write: synced only if the rating is unchanged.
fn is_mark_synced(input: &UpdateItemInput) -> bool {
    input.table_name() == Some(RATINGS)
        && input
            .condition_expression()
            .is_some_and(|c| c.contains("#version = :version"))
        && value(input.expression_attribute_values(), ":version")
            == Some(&AttributeValue::N("3".into()))
}

/// `mark_synced`'s second write: only the remote id, if the rating exists.
fn is_keep_remote_id(input: &UpdateItemInput) -> bool {
    input.table_name() == Some(RATINGS)
        && input.update_expression() == Some("SET remote_rating_id = :remote")
        && input.condition_expression() == Some("attribute_exists(id)")
        && value(input.expression_attribute_values(), ":remote") == Some(&s("remote-1"))
}

/// `record_failure`'s first write: the failure on the rating, only if the
/// rating is still the version that was attempted.
fn is_failure_on_rating(input: &UpdateItemInput) -> bool {
    input.table_name() == Some(RATINGS)
        && input
            .update_expression()
            .is_some_and(|u| u.contains("sync_failures = :count"))
        && input
            .condition_expression()
            .is_some_and(|c| c.contains("#version = :version"))
        && value(input.expression_attribute_values(), ":version")
            == Some(&AttributeValue::N("3".into()))
}

/// A first dead-letter item, only if there is none.
fn is_put_first_failure(input: &PutItemInput) -> bool {
    input.table_name() == Some(FAILED_UPLOADS)
        && input.condition_expression() == Some("attribute_not_exists(id)")
        && value(input.item(), "retry_count") == Some(&AttributeValue::N("1".into()))
        && value(input.item(), "id") == Some(&s("r1"))
}

/// One more retry on the dead-letter item, only if there is one.
fn is_add_retry(input: &UpdateItemInput) -> bool {
    input.table_name() == Some(FAILED_UPLOADS)
        && input
            .condition_expression()
            .is_some_and(|c| c.starts_with("attribute_exists(id) AND"))
        && input
            .update_expression()
            .is_some_and(|u| u.contains("retry_count = retry_count + :one"))
}

/// The lease write, asking for the current item when its condition fails.
fn is_acquire_lease(input: &PutItemInput) -> bool {
    input.table_name() == Some(SYNC_STATE)
        && value(input.item(), "holder") == Some(&s("run-a"))
        && input.return_values_on_condition_check_failure()
            == Some(&ReturnValuesOnConditionCheckFailure::AllOld)
}

fn lease_until() -> DateTime<Utc> {
    at() + chrono::Duration::minutes(5)
}

// Throttling: retried by the SDK, then an error of its own.

#[tokio::test]
async fn throughput_exceeded_twice_then_success_is_retried_to_success() {
    let update = mock!(Client::update_item)
        .match_requests(is_mark_synced)
        .sequence()
        .error(|| UpdateItemError::ProvisionedThroughputExceededException(throughput_exceeded()))
        .times(2)
        .output(|| UpdateItemOutput::builder().build())
        .build();
    let store = store(&[&update]);

    let outcome = store.mark_synced(&rating(), "remote-1", at()).await;

    assert_eq!(
        outcome.expect("the third attempt succeeds"),
        MarkOutcome::Synced
    );
    assert_eq!(
        update.num_calls(),
        3,
        "two throttled attempts and one success"
    );
}

#[tokio::test]
async fn throttling_exception_twice_then_success_is_retried_to_success() {
    let put = mock!(Client::put_item)
        .match_requests(is_acquire_lease)
        .sequence()
        .error(|| PutItemError::ThrottlingException(throttling()))
        .times(2)
        .output(|| PutItemOutput::builder().build())
        .build();
    let store = store(&[&put]);

    let outcome = store
        .acquire_lease("sync", "run-a", lease_until(), at())
        .await;

    assert_eq!(
        outcome.expect("the third attempt succeeds"),
        LeaseOutcome::Acquired
    );
    assert_eq!(put.num_calls(), 3);
}

#[tokio::test]
async fn throughput_exceeded_on_every_attempt_is_throttled_naming_table_and_operation() {
    let update = mock!(Client::update_item)
        .match_requests(is_mark_synced)
        .then_error(|| {
            UpdateItemError::ProvisionedThroughputExceededException(throughput_exceeded())
        });
    let store = store(&[&update]);

    let err = store
        .mark_synced(&rating(), "remote-1", at())
        .await
        .expect_err("throttled on every attempt");

    let StoreError::Throttled {
        table,
        operation,
        message,
    } = &err
    else {
        panic!("expected Throttled, got {err:?}");
    };
    assert_eq!(table, RATINGS);
    assert_eq!(*operation, "UpdateItem");
    assert!(
        message.contains("ProvisionedThroughputExceededException"),
        "{message}"
    );
    let shown = err.to_string();
    assert!(
        shown.contains(RATINGS) && shown.contains("UpdateItem"),
        "{shown}"
    );
    assert_eq!(
        update.num_calls(),
        MAX_ATTEMPTS as usize,
        "retried, then given up"
    );
}

#[tokio::test]
async fn throttling_exception_on_every_attempt_is_throttled() {
    let get = mock!(Client::get_item)
        .match_requests(|input| input.table_name() == Some(FAILED_UPLOADS))
        .then_error(|| GetItemError::ThrottlingException(throttling()));
    let store = store(&[&get]);

    let err = store
        .failed_upload("r1")
        .await
        .expect_err("throttled on every attempt");

    assert!(
        matches!(
            &err,
            StoreError::Throttled { table, operation: "GetItem", message }
                if table == FAILED_UPLOADS && message.contains("ThrottlingException")
        ),
        "{err:?}"
    );
    assert_eq!(get.num_calls(), MAX_ATTEMPTS as usize);
}

#[tokio::test]
async fn request_limit_exceeded_on_every_attempt_is_throttled() {
    let query = mock!(Client::query)
        .match_requests(|input| input.table_name() == Some(RATINGS))
        .then_error(|| QueryError::RequestLimitExceeded(limit_exceeded()));
    let store = store(&[&query]);

    let err = store
        .pending_page(None, 10)
        .await
        .expect_err("throttled on every attempt");

    assert!(
        matches!(
            &err,
            StoreError::Throttled { table, operation: "Query", message }
                if table == RATINGS && message.contains("RequestLimitExceeded")
        ),
        "{err:?}"
    );
    assert_eq!(query.num_calls(), MAX_ATTEMPTS as usize);
}

// Failed conditions: answers, never retried.

#[tokio::test]
async fn mark_synced_whose_condition_holds_is_synced_in_one_write() {
    let synced = mock!(Client::update_item)
        .match_requests(is_mark_synced)
        .then_output(|| UpdateItemOutput::builder().build());
    let kept = mock!(Client::update_item)
        .match_requests(is_keep_remote_id)
        .then_output(|| UpdateItemOutput::builder().build());
    let store = store(&[&synced, &kept]);

    let outcome = store.mark_synced(&rating(), "remote-1", at()).await;

    assert_eq!(outcome.expect("no error"), MarkOutcome::Synced);
    assert_eq!(synced.num_calls(), 1);
    assert_eq!(kept.num_calls(), 0, "no second write");
}

#[tokio::test]
async fn mark_synced_of_a_rating_edited_meanwhile_keeps_only_the_remote_id() {
    let synced = mock!(Client::update_item)
        .match_requests(is_mark_synced)
        .then_error(|| UpdateItemError::ConditionalCheckFailedException(condition_failed()));
    let kept = mock!(Client::update_item)
        .match_requests(is_keep_remote_id)
        .then_output(|| UpdateItemOutput::builder().build());
    let store = store(&[&synced, &kept]);

    let outcome = store.mark_synced(&rating(), "remote-1", at()).await;

    assert_eq!(outcome.expect("no error"), MarkOutcome::ChangedMeanwhile);
    assert_eq!(synced.num_calls(), 1, "a failed condition is not retried");
    assert_eq!(kept.num_calls(), 1);
}

#[tokio::test]
async fn mark_synced_of_a_rating_deleted_meanwhile_is_deleted() {
    let synced = mock!(Client::update_item)
        .match_requests(is_mark_synced)
        .then_error(|| UpdateItemError::ConditionalCheckFailedException(condition_failed()));
    let kept = mock!(Client::update_item)
        .match_requests(is_keep_remote_id)
        .then_error(|| UpdateItemError::ConditionalCheckFailedException(condition_failed()));
    let store = store(&[&synced, &kept]);

    let outcome = store.mark_synced(&rating(), "remote-1", at()).await;

    assert_eq!(outcome.expect("no error"), MarkOutcome::Deleted);
    assert_eq!(synced.num_calls(), 1);
    assert_eq!(kept.num_calls(), 1);
}

#[tokio::test]
async fn first_failure_whose_item_exists_falls_back_to_adding_a_retry() {
    let on_rating = mock!(Client::update_item)
        .match_requests(is_failure_on_rating)
        .then_output(|| UpdateItemOutput::builder().build());
    let put_first = mock!(Client::put_item)
        .match_requests(is_put_first_failure)
        .then_error(|| PutItemError::ConditionalCheckFailedException(condition_failed()));
    let add_retry = mock!(Client::update_item)
        .match_requests(is_add_retry)
        .then_output(|| UpdateItemOutput::builder().build());
    let store = store(&[&on_rating, &put_first, &add_retry]);

    let recorded = store
        .record_failure(&failure(0), retry_later(), at())
        .await
        .expect("recorded through the fallback");

    assert_eq!(recorded, FailureRecorded::Recorded);

    assert_eq!(on_rating.num_calls(), 1);
    assert_eq!(put_first.num_calls(), 1);
    assert_eq!(add_retry.num_calls(), 1);
}

#[tokio::test]
async fn repeated_failure_whose_item_is_gone_falls_back_to_a_first_item() {
    let on_rating = mock!(Client::update_item)
        .match_requests(is_failure_on_rating)
        .then_output(|| UpdateItemOutput::builder().build());
    let add_retry = mock!(Client::update_item)
        .match_requests(is_add_retry)
        .then_error(|| UpdateItemError::ConditionalCheckFailedException(condition_failed()));
    let put_first = mock!(Client::put_item)
        .match_requests(is_put_first_failure)
        .then_output(|| PutItemOutput::builder().build());
    let store = store(&[&on_rating, &add_retry, &put_first]);

    let recorded = store
        .record_failure(&failure(1), retry_later(), at())
        .await
        .expect("recorded through the fallback");

    assert_eq!(recorded, FailureRecorded::Recorded);

    assert_eq!(on_rating.num_calls(), 1);
    assert_eq!(add_retry.num_calls(), 1);
    assert_eq!(put_first.num_calls(), 1);
}

#[tokio::test]
async fn failure_whose_dead_letter_writes_both_fail_their_conditions_is_an_error() {
    let on_rating = mock!(Client::update_item)
        .match_requests(is_failure_on_rating)
        .then_output(|| UpdateItemOutput::builder().build());
    let put_first = mock!(Client::put_item)
        .match_requests(is_put_first_failure)
        .then_error(|| PutItemError::ConditionalCheckFailedException(condition_failed()));
    let add_retry = mock!(Client::update_item)
        .match_requests(is_add_retry)
        .then_error(|| UpdateItemError::ConditionalCheckFailedException(condition_failed()));
    let store = store(&[&on_rating, &put_first, &add_retry]);

    let err = store
        .record_failure(&failure(0), retry_later(), at())
        .await
        .expect_err("neither write could be made");

    assert!(
        matches!(
            &err,
            StoreError::Request { table, operation: "PutItem/UpdateItem", message }
                if table == FAILED_UPLOADS && message.contains("r1")
        ),
        "{err:?}"
    );
    assert_eq!(put_first.num_calls(), 1);
    assert_eq!(add_retry.num_calls(), 1);
}

#[tokio::test]
async fn failure_of_a_rating_changed_meanwhile_writes_no_dead_letter_item() {
    // The only rule: a dead-letter write would find none and fail the test.
    let on_rating = mock!(Client::update_item)
        .match_requests(is_failure_on_rating)
        .then_error(|| UpdateItemError::ConditionalCheckFailedException(condition_failed()));
    let store = store(&[&on_rating]);

    let recorded = store
        .record_failure(&failure(0), retry_later(), at())
        .await
        .expect("nothing to record");

    assert_eq!(recorded, FailureRecorded::RatingChanged);
    assert_eq!(on_rating.num_calls(), 1);
}

#[tokio::test]
async fn lease_held_by_another_run_is_reported_from_the_returned_item() {
    let put = mock!(Client::put_item)
        .match_requests(is_acquire_lease)
        .then_error(|| {
            PutItemError::ConditionalCheckFailedException(
                ConditionalCheckFailedException::builder()
                    .message(CONDITION_FAILED)
                    .item("pk", s("lease"))
                    .item("sk", s("sync"))
                    .item("holder", s("run-b"))
                    .item("acquired_at", s("2026-03-01T11:58:00.000Z"))
                    .item("until", s("2026-03-01T12:03:00.000Z"))
                    .item("until_ms", AttributeValue::N("1772366580000".into()))
                    .meta(meta("ConditionalCheckFailedException", CONDITION_FAILED))
                    .build(),
            )
        });
    let store = store(&[&put]);

    let outcome = store
        .acquire_lease("sync", "run-a", lease_until(), at())
        .await;

    assert_eq!(
        outcome.expect("a held lease is an answer"),
        LeaseOutcome::HeldBy {
            holder: "run-b".into(),
            until: "2026-03-01T12:03:00.000Z".into(),
        }
    );
    assert_eq!(put.num_calls(), 1);
}

#[tokio::test]
async fn lease_held_by_another_run_is_read_from_dynamodb_wire_response() {
    // The body DynamoDB sends for a failed condition with ALL_OLD, so that
    // the SDK's own deserializer sets the error code and the item.
    let body = r#"{
        "__type": "com.amazonaws.dynamodb.v20120810#ConditionalCheckFailedException",
        "message": "The conditional request failed",
        "Item": {
            "pk": {"S": "lease"},
            "sk": {"S": "sync"},
            "holder": {"S": "run-b"},
            "until": {"S": "2026-03-01T12:03:00.000Z"},
            "until_ms": {"N": "1772366580000"}
        }
    }"#;
    let put = mock!(Client::put_item)
        .match_requests(is_acquire_lease)
        .sequence()
        .http_status(400, Some(body.to_owned()))
        .build();
    let store = store(&[&put]);

    let outcome = store
        .acquire_lease("sync", "run-a", lease_until(), at())
        .await;

    assert_eq!(
        outcome.expect("a held lease is an answer"),
        LeaseOutcome::HeldBy {
            holder: "run-b".into(),
            until: "2026-03-01T12:03:00.000Z".into(),
        }
    );
    assert_eq!(put.num_calls(), 1);
}

#[tokio::test]
async fn renewal_of_a_lease_taken_over_is_false() {
    let update = mock!(Client::update_item)
        .match_requests(|input| {
            input.table_name() == Some(SYNC_STATE)
                && input.condition_expression() == Some("holder = :holder")
                && value(input.expression_attribute_values(), ":holder") == Some(&s("run-a"))
        })
        .then_error(|| UpdateItemError::ConditionalCheckFailedException(condition_failed()));
    let store = store(&[&update]);

    let renewed = store.renew_lease("sync", "run-a", lease_until()).await;

    assert!(!renewed.expect("a lost lease is an answer"));
    assert_eq!(update.num_calls(), 1);
}

// Other service errors: not retried, and named.

#[tokio::test]
async fn resource_not_found_is_a_request_error_naming_the_table() {
    let update = mock!(Client::update_item)
        .match_requests(is_mark_synced)
        .then_error(|| UpdateItemError::ResourceNotFoundException(not_found()));
    let store = store(&[&update]);

    let err = store
        .mark_synced(&rating(), "remote-1", at())
        .await
        .expect_err("the table is missing");

    let StoreError::Request {
        table,
        operation,
        message,
    } = &err
    else {
        panic!("expected Request, got {err:?}");
    };
    assert_eq!(table, RATINGS);
    assert_eq!(*operation, "UpdateItem");
    assert!(message.contains("ResourceNotFoundException"), "{message}");
    let shown = err.to_string();
    assert!(shown.contains(RATINGS), "{shown}");
    assert_eq!(update.num_calls(), 1, "not retried");
}

#[tokio::test]
async fn resource_not_found_on_the_lease_is_an_error_not_a_holder() {
    let put = mock!(Client::put_item)
        .match_requests(is_acquire_lease)
        .then_error(|| PutItemError::ResourceNotFoundException(not_found()));
    let store = store(&[&put]);

    let err = store
        .acquire_lease("sync", "run-a", lease_until(), at())
        .await
        .expect_err("the table is missing");

    assert!(
        matches!(
            &err,
            StoreError::Request { table, operation: "PutItem", .. } if table == SYNC_STATE
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains(SYNC_STATE), "{err}");
    assert_eq!(put.num_calls(), 1);
}

// Answers lost after the write landed: the SDK's retry meets the write.

#[tokio::test]
async fn a_lease_write_whose_answer_was_lost_is_acquired_when_the_retry_meets_it() {
    let put = mock!(Client::put_item)
        .match_requests(is_acquire_lease)
        .sequence()
        .http_status(500, None)
        .error(|| {
            PutItemError::ConditionalCheckFailedException(
                ConditionalCheckFailedException::builder()
                    .message(CONDITION_FAILED)
                    .item("pk", s("lease"))
                    .item("sk", s("sync"))
                    .item("holder", s("run-a"))
                    .item("until", s("2026-03-01T12:05:00.000Z"))
                    .meta(meta("ConditionalCheckFailedException", CONDITION_FAILED))
                    .build(),
            )
        })
        .build();
    let store = store(&[&put]);

    let outcome = store
        .acquire_lease("sync", "run-a", lease_until(), at())
        .await;

    assert_eq!(
        outcome.expect("its own lease is an answer"),
        LeaseOutcome::Acquired
    );
    assert_eq!(put.num_calls(), 2, "the 500, then the retry that met it");
}

#[tokio::test]
async fn a_lease_release_whose_answer_was_lost_has_nothing_left_to_do() {
    let delete = mock!(Client::delete_item)
        .match_requests(|input| {
            input.table_name() == Some(SYNC_STATE)
                && input.condition_expression() == Some("holder = :holder")
        })
        .sequence()
        .http_status(500, None)
        .error(|| {
            aws_sdk_dynamodb::operation::delete_item::DeleteItemError::ConditionalCheckFailedException(
                condition_failed(),
            )
        })
        .build();
    let store = store(&[&delete]);

    store
        .release_lease("sync", "run-a")
        .await
        .expect("a lease already gone is released");
    assert_eq!(delete.num_calls(), 2);
}

/// The condition failure a dead-letter write meets when its own earlier
/// attempt landed: the item at `retry_count`, failed at [`at`].
fn landed_failure(retry_count: u32) -> ConditionalCheckFailedException {
    ConditionalCheckFailedException::builder()
        .message(CONDITION_FAILED)
        .item("id", s("r1"))
        .item("retry_count", AttributeValue::N(retry_count.to_string()))
        .item("last_failed_at", s(&super::timestamp(at())))
        .meta(meta("ConditionalCheckFailedException", CONDITION_FAILED))
        .build()
}

#[tokio::test]
async fn a_first_dead_letter_item_whose_answer_was_lost_is_not_counted_twice() {
    let on_rating = mock!(Client::update_item)
        .match_requests(is_failure_on_rating)
        .then_output(|| UpdateItemOutput::builder().build());
    // The put lands, its answer is lost; the retry meets the item it wrote.
    let put_first = mock!(Client::put_item)
        .match_requests(is_put_first_failure)
        .sequence()
        .http_status(500, None)
        .error(|| PutItemError::ConditionalCheckFailedException(landed_failure(1)))
        .build();
    // The only other rule: an added retry would fail the test.
    let store = store(&[&on_rating, &put_first]);

    let recorded = store
        .record_failure(&failure(0), retry_later(), at())
        .await
        .expect("its own item is recorded");

    assert_eq!(recorded, FailureRecorded::Recorded);
    assert_eq!(put_first.num_calls(), 2);
}

#[tokio::test]
async fn an_added_retry_whose_answer_was_lost_is_not_counted_twice() {
    let on_rating = mock!(Client::update_item)
        .match_requests(is_failure_on_rating)
        .then_output(|| UpdateItemOutput::builder().build());
    let add_retry = mock!(Client::update_item)
        .match_requests(is_add_retry)
        .sequence()
        .http_status(500, None)
        .error(|| UpdateItemError::ConditionalCheckFailedException(landed_failure(2)))
        .build();
    let store = store(&[&on_rating, &add_retry]);

    let recorded = store
        .record_failure(&failure(1), retry_later(), at())
        .await
        .expect("its own update is recorded");

    assert_eq!(recorded, FailureRecorded::Recorded);
    assert_eq!(add_retry.num_calls(), 2);
}
