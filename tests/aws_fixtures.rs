//! The event fixtures AWS ships with its own Lambda event library
//! (`aws_lambda_events`, copied into `tests/fixtures/aws/`, see the README
//! there) fed to the functions' own handlers: the fast path's
//! `shared::triggers::stream::handle`, the admin API's four handlers (through
//! `lambda_http`'s own reading of an HTTP API event), the authorizer, and
//! the scheduled function's event type.
//!
//! None of them is an event of this service: other tables, other routes,
//! other credentials. Nothing may crash on them, no record of another
//! table's shape may be handed back to the stream for retry, nothing may
//! change in the tables, and no fixture's own credentials (JWT claims, a
//! Lambda authorizer's context, IAM keys, identity sources) may let a
//! request in. Each test also feeds one event of the same shape that is
//! this service's, so that "nothing happened" is not a handler that never
//! read its event.

use std::time::SystemTime;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use integration_tests::admin::{admin_token, read_answer, Admin, Answer, Endpoint, SECRET};
use integration_tests::stream::stream_record;
use integration_tests::*;
use serde_json::{json, Value};
use shared::auth::{AdminPolicy, AdminVerifier};
use shared::config::{Secret, SyncSettings};
use shared::rating::SyncState;
use shared::store::sync_state;
use shared::triggers::http::admin_authorizer::{authorize, AuthorizerRequest};
use shared::triggers::http::{
    admin_list_failed_uploads as failed_uploads, admin_retry_failed_upload as retry,
    admin_sync_ratings as sync_ratings, admin_sync_status as status, Request,
};
use shared::triggers::stream::{handle, StreamEvent};

/// A fixture's text, by file name.
macro_rules! fixture {
    ($name:literal) => {
        ($name, include_str!(concat!("fixtures/aws/", $name)))
    };
}

const DYNAMODB_EVENTS: [(&str, &str); 2] = [
    fixture!("example-dynamodb-event.json"),
    fixture!("example-dynamodb-event-null-items.json"),
];
/// One record, not an event: the stream delivers it inside `Records`.
const DYNAMODB_RECORD: (&str, &str) =
    fixture!("example-dynamodb-event-record-with-optional-fields.json");

const HTTP_API_REQUESTS: [(&str, &str); 5] = [
    fixture!("example-apigw-v2-request-no-authorizer.json"),
    fixture!("example-apigw-v2-request-iam.json"),
    fixture!("example-apigw-v2-request-jwt-authorizer.json"),
    fixture!("example-apigw-v2-request-lambda-authorizer.json"),
    fixture!("example-apigw-v2-request-multi-value-parameters.json"),
];

/// The payload 2.0 authorizer events: the authorizer's own event type.
const AUTHORIZER_REQUESTS: [(&str, &str); 4] = [
    fixture!("example-apigw-v2-custom-authorizer-v2-request.json"),
    fixture!("example-apigw-v2-custom-authorizer-v2-request-null-maps.json"),
    fixture!("example-apigw-v2-custom-authorizer-v2-request-without-cookies.json"),
    fixture!("example-apigw-v2-custom-authorizer-v2-request-without-identity-source.json"),
];
/// A payload 1.0 authorizer event, which this API never sends.
const AUTHORIZER_V1_REQUEST: (&str, &str) =
    fixture!("example-apigw-v2-custom-authorizer-v1-request.json");

const EVENTBRIDGE_EVENTS: [(&str, &str); 2] = [
    fixture!("example-eventbridge-schedule.json"),
    fixture!("example-eventbridge-event-obj.json"),
];

fn json_of(text: &str) -> Value {
    serde_json::from_str(text).expect("a fixture is JSON")
}

fn sequence_number(record: &Value) -> Option<&str> {
    record["dynamodb"]["SequenceNumber"].as_str()
}

// ---------------------------------------------------------------------------
// The stream function.

/// Every record of AWS's DynamoDB fixtures, as the stream delivers them:
/// the two events' records, and the lone record in an event of its own.
fn foreign_records() -> Vec<Value> {
    let mut records: Vec<Value> = DYNAMODB_EVENTS
        .iter()
        .flat_map(|(_, text)| json_of(text)["Records"].as_array().unwrap().clone())
        .collect();
    records.push(json_of(DYNAMODB_RECORD.1));
    records
}

#[tokio::test]
async fn the_stream_function_ignores_awss_dynamodb_fixtures_and_hands_none_back() {
    let admin = Admin::new().await;
    let env = &admin.env;
    let pending = env.ratings(4, 0);
    env.put(&pending).await;
    let engine = env.stream_engine(SyncSettings::default());

    // Each fixture on its own, as its event deserializes in the function.
    for (name, text) in DYNAMODB_EVENTS
        .iter()
        .chain([&(DYNAMODB_RECORD.0, DYNAMODB_RECORD.1)])
    {
        let event: StreamEvent = if *name == DYNAMODB_RECORD.0 {
            serde_json::from_value(json!({ "Records": [json_of(text)] })).unwrap()
        } else {
            serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"))
        };
        assert!(!event.records.is_empty(), "{name}");
        let before = admin.snapshot().await;
        let (response, batch) = handle(&engine, &event, generous_deadline()).await;
        assert!(
            response.batch_item_failures.is_empty(),
            "{name}: {response:?}"
        );
        assert_eq!(batch.ignored, event.records.len() as u64, "{name}");
        assert_eq!(batch.report.uploaded, 0, "{name}");
        assert_eq!(admin.snapshot().await, before, "{name}: a table changed");
    }
    assert!(
        env.simulator.ratings().await.unwrap().is_empty(),
        "the marketplace heard of a fixture"
    );

    // A fixture record of another table grafted with this service's
    // attributes (pending, an id, a version), for a rating this table does
    // not hold: nothing to upload, and still not handed back.
    let mut lookalike = foreign_records()[0].clone();
    let image = &mut lookalike["dynamodb"]["NewImage"];
    image["id"] = json!({ "S": format!("{}not-in-this-table", env.prefix) });
    image["synced_to_saas"] = json!({ "S": "false" });
    image["version"] = json!({ "N": "1" });

    // The foreign records beside two of this table's, in one batch: the
    // service's are uploaded, every other record is ignored, none retried.
    let mut records = foreign_records();
    records.push(lookalike);
    let ours = [
        stream_record("INSERT", &env.item(&pending[0].id).await, 9_000_001),
        stream_record("MODIFY", &env.item(&pending[1].id).await, 9_000_002),
    ];
    records.insert(1, ours[0].clone());
    records.push(ours[1].clone());
    let total = records.len() as u64;
    let event = StreamEvent { records };
    let (response, batch) = handle(&engine, &event, generous_deadline()).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    assert_eq!(batch.report.created, 2, "{batch:?}");
    assert_eq!(batch.ignored, total - 2);
    for rating in &pending[..2] {
        assert_eq!(sync_state(&env.item(&rating.id).await), SyncState::Synced);
    }
    assert_eq!(env.simulator.ratings().await.unwrap().len(), 2);
    assert!(env.dead_letters().await.is_empty());

    // With the marketplace down (the breaker opens), only this table's
    // records come back, in batch order, never a foreign one.
    env.configure(json!({ "fail_rate": 1.0, "fail_status": 503 }))
        .await;
    let down = env.stream_engine(SyncSettings {
        breaker_threshold: 2,
        ..retry_at_once()
    });
    let ours = [
        stream_record("INSERT", &env.item(&pending[2].id).await, 9_000_003),
        stream_record("INSERT", &env.item(&pending[3].id).await, 9_000_004),
    ];
    let mut records = foreign_records();
    records.insert(2, ours[0].clone());
    records.push(ours[1].clone());
    let (response, batch) = handle(&down, &StreamEvent { records }, generous_deadline()).await;
    let handed_back: Vec<&str> = response
        .batch_item_failures
        .iter()
        .map(|failure| failure.item_identifier.as_str())
        .collect();
    assert_eq!(
        handed_back,
        ours.iter()
            .map(|r| sequence_number(r).unwrap())
            .collect::<Vec<_>>(),
        "{batch:?}"
    );
    assert_eq!(env.pending_ids().await.len(), 2, "still pending");
}

// ---------------------------------------------------------------------------
// The admin functions.

/// `request` served by `endpoint`'s handler, as `Admin::call` serves a
/// request it builds.
async fn serve(admin: &Admin, endpoint: Endpoint, request: Request) -> Answer {
    admin.recorder.act_as(Some(endpoint.function()));
    let response = match endpoint {
        Endpoint::Sync => sync_ratings::handle(&admin.api, request, generous_deadline()).await,
        Endpoint::Retry => retry::handle(&admin.api, request, generous_deadline()).await,
        Endpoint::List => failed_uploads::handle(&admin.context, request).await,
        Endpoint::Status => status::handle(&admin.context, request).await,
    };
    admin.recorder.act_as(None);
    read_answer(endpoint, response)
}

/// The event as the function's runtime reads it (`lambda_http`).
fn http_request(name: &str, event: &Value) -> Request {
    lambda_http::request::from_str(&event.to_string())
        .unwrap_or_else(|e| panic!("{name}: lambda_http cannot read it: {e}"))
}

#[tokio::test]
async fn the_admin_functions_refuse_awss_http_api_fixtures_with_their_own_credentials() {
    let admin = Admin::new().await;
    admin.env.put(&admin.env.ratings(3, 0)).await;
    let before = admin.snapshot().await;
    let audited_before = admin.audit().await.len();
    let mut served = 0;
    for (name, text) in HTTP_API_REQUESTS {
        let event = json_of(text);
        for endpoint in Endpoint::ALL {
            let answer = serve(&admin, endpoint, http_request(name, &event)).await;
            // No Authorization header: the fixture's JWT claims, Lambda
            // authorizer context or IAM identity prove nothing here.
            answer.assert_error(401, "UNAUTHORIZED");
            served += 1;
        }
    }
    assert_eq!(admin.snapshot().await, before, "a table changed");
    assert_eq!(
        admin.audit().await.len(),
        audited_before + served,
        "each refusal audited"
    );
    assert!(admin.env.simulator.ratings().await.unwrap().is_empty());
}

#[tokio::test]
async fn an_awss_http_api_fixture_on_an_admin_route_with_a_token_is_served() {
    let admin = Admin::new().await;
    admin.env.put(&admin.env.ratings(3, 0)).await;
    for (name, text) in HTTP_API_REQUESTS {
        // The fixture as API Gateway would send it on the status route:
        // its own headers, cookies, context and credentials kept, with
        // the route, no query string or body, and an admin's token.
        let mut event = json_of(text);
        let (method, path) = Endpoint::Status.route();
        event["rawPath"] = json!(path);
        event["routeKey"] = json!(format!("{method} {path}"));
        event["rawQueryString"] = json!("");
        event["queryStringParameters"] = Value::Null;
        event["requestContext"]["http"]["method"] = json!(method.as_str());
        event["requestContext"]["http"]["path"] = json!(path);
        event["headers"]["authorization"] = json!(format!("Bearer {}", admin_token()));
        if let Some(object) = event.as_object_mut() {
            object.remove("body");
        }
        let answer = serve(&admin, Endpoint::Status, http_request(name, &event)).await;
        assert_eq!(answer.status, 200, "{name}: {}", answer.body);
        assert_eq!(answer.body["pending_count"], 3, "{name}");

        // The same with the fixture's authorization header alone: none.
        event["headers"]
            .as_object_mut()
            .unwrap()
            .remove("authorization");
        serve(&admin, Endpoint::Status, http_request(name, &event))
            .await
            .assert_error(401, "UNAUTHORIZED");
    }
}

// ---------------------------------------------------------------------------
// The authorizer.

fn verifier() -> AdminVerifier {
    AdminVerifier::new(&Secret::new(SECRET), AdminPolicy::default()).unwrap()
}

fn authorizer_answer(event: &AuthorizerRequest) -> Value {
    serde_json::to_value(authorize(&verifier(), event, SystemTime::now())).unwrap()
}

#[test]
fn the_authorizer_never_lets_a_fixtures_own_credentials_in() {
    let refused = json!({ "isAuthorized": false, "context": {} });
    for (name, text) in AUTHORIZER_REQUESTS {
        let event: AuthorizerRequest =
            serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        // Its identity source ("user1", "123") or none at all.
        assert_eq!(authorizer_answer(&event), refused, "{name}");

        // The same event carrying an admin's token: let in, so the refusal
        // above is the fixture's credentials, not an unreadable event.
        let mut with_token = json_of(text);
        let header = format!("Bearer {}", admin_token());
        with_token["headers"]["authorization"] = json!(header);
        with_token["identitySource"] = json!([header]);
        let event: AuthorizerRequest = serde_json::from_value(with_token).unwrap();
        let answer = authorizer_answer(&event);
        assert_eq!(answer["isAuthorized"], true, "{name}: {answer}");
        assert_eq!(answer["context"]["role"], "super_admin", "{name}");
    }

    // Events the authorizer is never sent: a payload 1.0 authorizer event
    // (its `authorizationToken` is "user1,123") and the HTTP API's own
    // requests. Read as its event where they can be, each is refused.
    for (name, text) in [AUTHORIZER_V1_REQUEST].iter().chain(&HTTP_API_REQUESTS) {
        match serde_json::from_str::<AuthorizerRequest>(text) {
            Ok(event) => assert_eq!(authorizer_answer(&event), refused, "{name}"),
            Err(error) => assert!(!error.to_string().is_empty(), "{name}"),
        }
    }
}

// ---------------------------------------------------------------------------
// The scheduled function.

#[tokio::test]
async fn the_scheduled_function_reads_awss_eventbridge_events_and_runs_once_each() {
    let env = TestEnv::new().await;
    let ratings = env.ratings(4, 0);
    env.put(&ratings).await;
    let engine = env.engine();
    let mut created = 0;
    for (name, text) in EVENTBRIDGE_EVENTS {
        // The function's event type; what it says does not matter: each
        // tick is one run, bounded by the invocation's deadline.
        let event: EventBridgeEvent<Value> =
            serde_json::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert!(
            !event.source.is_empty() && !event.detail_type.is_empty(),
            "{name}"
        );
        let report = engine.run(generous_deadline()).await;
        assert!(report.success, "{name}: {report:?}");
        created += report.created;
    }
    // The first run synced them all, the second found nothing to do.
    assert_eq!(created, 4);
    assert!(env.pending_ids().await.is_empty());
    assert_eq!(env.simulator.ratings().await.unwrap().len(), 4);
}
