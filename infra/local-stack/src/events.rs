//! The local event bus: moto's EventBridge and SQS. `events-setup` makes a
//! queue that receives every event the sync publishes (a rule on the
//! default bus matching its source) and the queue the stream poller sends
//! given-up records to; `events-drain` reads a queue empty.

use std::time::Duration;

use aws_sdk_eventbridge::types::Target;
use aws_sdk_sqs::types::QueueAttributeName;
use serde_json::{json, Value};

use crate::{sdk_message, StackError};

/// The queue the rule delivers the sync's events to.
pub const EVENTS_QUEUE: &str = "rating-sync-events";
/// The stream mapping's on-failure destination, locally.
pub const FAILURE_QUEUE: &str = "stream-rating-sync-failures";
/// The rule on the default bus.
pub const RULE: &str = "rating-sync-events-to-queue";
/// The `source` of every event the sync publishes.
pub const EVENT_SOURCE: &str = "atom.rating-sync";

/// The queues `setup` made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventQueues {
    pub events_queue_url: String,
    pub failure_queue_url: String,
}

impl EventQueues {
    pub fn to_json(&self) -> Value {
        json!({
            "events_queue_url": self.events_queue_url,
            "failure_queue_url": self.failure_queue_url,
        })
    }
}

/// Creates the queues, the rule and its target; running it again changes
/// nothing (CreateQueue returns the existing queue, PutRule and PutTargets
/// overwrite with the same values).
pub async fn setup(
    events: &aws_sdk_eventbridge::Client,
    sqs: &aws_sdk_sqs::Client,
) -> Result<EventQueues, StackError> {
    let events_queue_url = create_queue(sqs, EVENTS_QUEUE).await?;
    let failure_queue_url = create_queue(sqs, FAILURE_QUEUE).await?;
    let queue_arn = sqs
        .get_queue_attributes()
        .queue_url(&events_queue_url)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .map_err(|e| StackError::Sqs(sdk_message(e)))?
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn))
        .cloned()
        .ok_or_else(|| StackError::Sqs(format!("{EVENTS_QUEUE} has no QueueArn")))?;
    events
        .put_rule()
        .name(RULE)
        .event_pattern(json!({ "source": [EVENT_SOURCE] }).to_string())
        .description("Every event of the rating sync, to a queue (local stack)")
        .send()
        .await
        .map_err(|e| StackError::EventBridge(sdk_message(e)))?;
    let target = Target::builder()
        .id("rating-sync-events-queue")
        .arn(queue_arn)
        .build()
        .map_err(|e| StackError::EventBridge(e.to_string()))?;
    let out = events
        .put_targets()
        .rule(RULE)
        .targets(target)
        .send()
        .await
        .map_err(|e| StackError::EventBridge(sdk_message(e)))?;
    if out.failed_entry_count() > 0 {
        return Err(StackError::EventBridge(format!(
            "PutTargets failed: {:?}",
            out.failed_entries()
        )));
    }
    Ok(EventQueues {
        events_queue_url,
        failure_queue_url,
    })
}

async fn create_queue(sqs: &aws_sdk_sqs::Client, name: &str) -> Result<String, StackError> {
    sqs.create_queue()
        .queue_name(name)
        .send()
        .await
        .map_err(|e| StackError::Sqs(sdk_message(e)))?
        .queue_url()
        .map(str::to_owned)
        .ok_or_else(|| StackError::Sqs(format!("CreateQueue {name} returned no URL")))
}

/// What `events-drain` prints of one message: an EventBridge event's
/// `detail-type` and `detail`, or any other body (an on-failure record)
/// whole.
pub fn summary(body: &str) -> Value {
    match serde_json::from_str::<Value>(body) {
        Ok(event) if event.get("detail-type").is_some() => json!({
            "detail-type": event["detail-type"],
            "detail": event["detail"],
        }),
        Ok(other) => json!({ "body": other }),
        Err(_) => json!({ "body": body }),
    }
}

/// Receives every message the queue holds (until a receive waiting `wait`
/// comes back empty), deleting each once read; returns their bodies in
/// the order received.
pub async fn drain(
    sqs: &aws_sdk_sqs::Client,
    queue_url: &str,
    wait: Duration,
) -> Result<Vec<String>, StackError> {
    let mut bodies = Vec::new();
    loop {
        let out = sqs
            .receive_message()
            .queue_url(queue_url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait.as_secs().min(20) as i32)
            .send()
            .await
            .map_err(|e| StackError::Sqs(sdk_message(e)))?;
        let messages = out.messages();
        if messages.is_empty() {
            return Ok(bodies);
        }
        for message in messages {
            bodies.push(message.body().unwrap_or_default().to_owned());
            if let Some(receipt) = message.receipt_handle() {
                sqs.delete_message()
                    .queue_url(queue_url)
                    .receipt_handle(receipt)
                    .send()
                    .await
                    .map_err(|e| StackError::Sqs(sdk_message(e)))?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_event_is_summarised_by_its_type_and_detail_and_anything_else_whole() {
        let event = r#"{"id": "1", "detail-type": "RatingSynced", "source": "atom.rating-sync", "detail": {"rating_id": "r1"}}"#;
        assert_eq!(
            summary(event),
            json!({"detail-type": "RatingSynced", "detail": {"rating_id": "r1"}})
        );
        assert_eq!(
            summary(r#"{"requestContext": {}}"#),
            json!({"body": {"requestContext": {}}})
        );
        assert_eq!(summary("plain"), json!({"body": "plain"}));
    }
}
