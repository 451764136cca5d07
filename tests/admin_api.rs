//! The admin API, handler by handler, called in-process with the requests
//! API Gateway would hand the functions, against the real DynamoDB server
//! and a simulator of its own: who may call (the 401/403 matrix), bad input
//! (400, and nothing changed), the sync trigger and its lease, the full
//! re-push, the listing and its cursors, the retry of each kind, the status
//! page and the audit trail.
//!
//! Every answer a test gets is also written to
//! `target/admin-api-responses/` (or `$ADMIN_API_RESPONSES_DIR`), where
//! `infra/test_openapi.py` checks each one against `openapi.yaml`.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use integration_tests::admin::*;
use integration_tests::*;
use lambda_http::http::{self, Method};
use lambda_http::Body;
use local_stack::seed;
use serde_json::{json, Value};
use shared::api::{
    admin_list_failed_uploads as failed_uploads, admin_retry_failed_upload as retry,
    admin_sync_ratings as sync_ratings, admin_sync_status as status, AdminContext, CursorSigner,
    Request, SyncApi, MAX_BODY_BYTES,
};
use shared::auth::AdminPolicy;
use shared::config::{RateLimit, Secret, SyncSettings, TableNames};
use shared::rating::{Rating, SyncState};
use shared::store::{sync_state, timestamp, Item, Store, DEAD, RETRYING};
use shared::sync::LEASE_NAME;

// ---------------------------------------------------------------------------
// Who may call.

#[tokio::test]
async fn requests_that_prove_no_identity_are_401_on_every_endpoint_and_change_nothing() {
    let admin = Admin::new().await;
    admin.env.put(&admin.env.ratings(5, 0)).await;
    let before = admin.snapshot().await;
    let foreign = shared::auth::sign_token(
        &Secret::new("another-deployment-secret-0123456789"),
        &claims(json!({})),
    )
    .unwrap();
    let expired = token_with(json!({ "exp": now_seconds() - 3600 }));
    let unsigned = unsigned_token();
    let no_expiry = token_with(json!({ "exp": null }));
    let no_issued_at = token_with(json!({ "iat": null }));
    let thirty_days = 30 * 86_400;
    let long_lived = token_with(json!({
        "iat": now_seconds() + 3600 - thirty_days,
        "exp": now_seconds() + 3600,
    }));
    let cases: Vec<(&str, Option<String>)> = vec![
        ("no token", None),
        ("not bearer", Some(format!("Basic {}", admin_token()))),
        ("bad signature", Some(format!("Bearer {foreign}"))),
        ("expired", Some(format!("Bearer {expired}"))),
        ("alg none", Some(format!("Bearer {unsigned}"))),
        ("no exp", Some(format!("Bearer {no_expiry}"))),
        ("no iat", Some(format!("Bearer {no_issued_at}"))),
        (
            "30 days, in its last hour",
            Some(format!("Bearer {long_lived}")),
        ),
        ("garbage", Some("Bearer not.a.jwt".to_owned())),
    ];
    for endpoint in Endpoint::ALL {
        for (case, header) in &cases {
            let mut request = endpoint.request();
            if endpoint == Endpoint::Sync {
                request = request.body(r#"{"upload_all": true}"#);
            }
            if let Some(header) = header {
                request = request.header(header);
            }
            let answer = admin.call(request).await;
            answer.assert_error(401, "UNAUTHORIZED");
            if let Some(header) = header {
                let signature = &header[header.len().saturating_sub(16)..];
                assert!(
                    !answer.body.to_string().contains(signature),
                    "{endpoint:?} {case}: the token is not repeated"
                );
            }
        }
    }
    assert_eq!(
        admin.snapshot().await,
        before,
        "a refused call changes nothing"
    );
    assert_eq!(admin.env.stats().await["requests_total"], 0);

    let audit = admin.audit().await;
    assert_eq!(audit.len(), Endpoint::ALL.len() * cases.len());
    for record in &audit {
        assert_eq!(text(record, "outcome"), "refused");
        assert_eq!(text(record, "status"), "401");
        assert_eq!(text(record, "code"), "UNAUTHORIZED");
        assert!(record["sub"].is_null(), "nobody proved who they are");
    }
}

#[tokio::test]
async fn valid_tokens_without_the_right_are_403_and_autonomous_agents_are_let_in() {
    let admin = Admin::new().await;
    admin.env.put(&admin.env.ratings(3, 0)).await;
    let before = admin.snapshot().await;
    let denied = [
        ("member", json!({ "role": "member" })),
        ("no role", json!({ "role": null })),
        ("role in other case", json!({ "role": "SUPER_ADMIN" })),
        ("agent without maturity", json!({ "agent_id": "agent-7" })),
        (
            "student agent",
            json!({ "agent_id": "agent-7", "maturity": "STUDENT" }),
        ),
        (
            "intern agent",
            json!({ "agent_id": "agent-7", "maturity": "INTERN" }),
        ),
        (
            "supervised agent",
            json!({ "agent_id": "agent-7", "maturity": "SUPERVISED" }),
        ),
        (
            "member autonomous agent",
            json!({ "role": "member", "agent_id": "agent-7", "maturity": "AUTONOMOUS" }),
        ),
    ];
    for endpoint in Endpoint::ALL {
        for (case, changes) in &denied {
            let answer = admin
                .call(endpoint.request().token(&token_with(changes.clone())))
                .await;
            answer.assert_error(403, "PERMISSION_DENIED");
            assert!(!answer.message().is_empty(), "{endpoint:?} {case}");
        }
    }
    assert_eq!(
        admin.snapshot().await,
        before,
        "a denied call changes nothing"
    );
    assert_eq!(admin.env.stats().await["requests_total"], 0);

    // An agent acting AUTONOMOUS, in any letter case, and a plain admin.
    for changes in [
        json!({ "agent_id": "agent-7", "maturity": "AUTONOMOUS" }),
        json!({ "agent_id": "agent-7", "maturity": "autonomous" }),
        json!({ "agent_id": "agent-7", "maturity": "Autonomous" }),
        json!({}),
    ] {
        let answer = admin
            .call(
                Endpoint::Status
                    .request()
                    .token(&token_with(changes.clone())),
            )
            .await;
        assert_eq!(answer.status, 200, "{changes}: {}", answer.body);
    }
    let audit = admin.audit().await;
    let let_in: Vec<&Item> = audit
        .iter()
        .filter(|r| text(r, "outcome") == "ok")
        .collect();
    assert_eq!(let_in.len(), 4);
    assert_eq!(
        let_in
            .iter()
            .filter(|r| text(r, "agent_id") == "agent-7")
            .count(),
        3
    );
    let refused = audit.iter().filter(|r| text(r, "status") == "403").count();
    assert_eq!(refused, Endpoint::ALL.len() * denied.len());
}

// ---------------------------------------------------------------------------
// The audit trail.

#[tokio::test]
async fn every_admin_action_is_recorded_with_who_what_when_and_the_result() {
    let admin = Admin::new().await;
    admin.env.put(&admin.env.ratings(4, 0)).await;
    let token = token_with(json!({ "agent_id": "agent-42", "maturity": "AUTONOMOUS" }));
    let started = chrono::Utc::now();

    let synced = admin
        .call(
            Endpoint::Sync
                .request()
                .token(&token)
                .body(r#"{"upload_all": false}"#),
        )
        .await;
    assert_eq!(synced.status, 200, "{}", synced.body);
    let member = admin
        .call(
            Endpoint::List
                .request()
                .token(&token_with(json!({ "role": "member" }))),
        )
        .await;
    assert_eq!(member.status, 403);
    let bad = admin
        .call(Req::new(Endpoint::List, "/api/admin/ratings/failed-uploads?limit=0").token(&token))
        .await;
    assert_eq!(bad.status, 400);

    let audit = admin.audit().await;
    assert_eq!(audit.len(), 3, "one record per request");
    let by_action: HashMap<String, &Item> = audit
        .iter()
        .map(|r| (format!("{}/{}", text(r, "action"), text(r, "status")), r))
        .collect();

    let sync = by_action["sync_ratings/200"];
    assert_eq!(
        text(sync, "outcome"),
        "ok",
        "the started record was completed"
    );
    assert_eq!(text(sync, "sub"), ADMIN);
    assert_eq!(text(sync, "role"), "super_admin");
    assert_eq!(text(sync, "agent_id"), "agent-42");
    assert_eq!(text(sync, "maturity"), "AUTONOMOUS");
    assert_eq!(text(sync, "input"), r#"{"upload_all":false}"#);
    assert!(text(sync, "result").contains("Uploaded 4 of 4"), "{sync:?}");
    assert!(sync["code"].is_null());

    let denied = by_action["list_failed_uploads/403"];
    assert_eq!(text(denied, "outcome"), "refused");
    assert_eq!(text(denied, "code"), "PERMISSION_DENIED");
    assert!(text(denied, "result").contains("member"));

    let invalid = by_action["list_failed_uploads/400"];
    assert_eq!(text(invalid, "outcome"), "rejected");
    assert_eq!(text(invalid, "code"), "VALIDATION_ERROR");
    assert_eq!(text(invalid, "sub"), ADMIN, "the caller was known");

    for record in &audit {
        let sk = text(record, "sk");
        let (at, id) = sk.split_once('#').unwrap();
        assert_eq!(at, text(record, "at"));
        uuid::Uuid::parse_str(id).unwrap();
        let at = chrono::DateTime::parse_from_rfc3339(at).unwrap();
        assert!(at >= started - chrono::Duration::seconds(1));
        let expires: i64 = text(record, "expires_at").parse().unwrap();
        let days = (expires - at.timestamp()) / 86_400;
        assert_eq!(
            days,
            i64::from(shared::config::DEFAULT_AUDIT_RETENTION_DAYS)
        );
        let stored = format!("{record:?}");
        for secret in [token.as_str(), SECRET] {
            assert!(!stored.contains(secret), "no token or secret in the trail");
        }
    }
}

#[tokio::test]
async fn an_action_that_cannot_be_recorded_is_not_done() {
    let admin = Admin::new().await;
    admin.env.put(&admin.env.ratings(2, 2)).await;
    admin.env.engine().run(generous_deadline()).await;
    let dead = admin.env.dead_letters().await;
    assert_eq!(dead.len(), 2);
    let before = admin.snapshot().await;
    let requests_before = admin.env.stats().await["requests_total"].clone();

    // The same tables, but an audit table that is not there.
    let tables = TableNames {
        audit: format!("{}missing_audit", admin.env.prefix),
        ..admin.env.tables.clone()
    };
    let store = Store::new(admin.env.client.clone(), tables.clone());
    let context = AdminContext::new(store, &Secret::new(SECRET), AdminPolicy::default()).unwrap();
    let mut config = admin.env.config(retry_at_once());
    config.tables = tables;
    let engine = shared::sync_engine(&config, admin.env.client.clone()).unwrap();
    let api = SyncApi::new(context, engine, &config.sync);

    let id = text(&dead[0], "id");
    let request = Req::new(
        Endpoint::Retry,
        &format!("/api/admin/ratings/failed-uploads/{id}/retry"),
    )
    .admin();
    let answer = read_answer(
        Endpoint::Retry,
        retry::handle(&api, request.build(), generous_deadline()).await,
    );
    answer.assert_error(503, "AUDIT_UNAVAILABLE");
    assert_eq!(admin.snapshot().await, before);
    assert_eq!(admin.env.stats().await["requests_total"], requests_before);
}

#[tokio::test]
async fn a_dynamodb_failure_is_a_500_that_does_not_repeat_dynamodb() {
    let admin = Admin::new().await;
    let tables = TableNames::with_prefix(&format!("{}gone_", admin.env.prefix));
    let store = Store::new(admin.env.client.clone(), tables);
    let context = AdminContext::new(store, &Secret::new(SECRET), AdminPolicy::default()).unwrap();
    for (endpoint, response) in [
        (
            Endpoint::Status,
            status::handle(&context, Endpoint::Status.request().admin().build()).await,
        ),
        (
            Endpoint::List,
            failed_uploads::handle(&context, Endpoint::List.request().admin().build()).await,
        ),
    ] {
        let answer = read_answer(endpoint, response);
        answer.assert_error(500, "INTERNAL_ERROR");
        assert!(!answer.message().contains("gone_"), "{}", answer.message());
        assert!(!answer.message().contains("ResourceNotFound"));
    }
}

// ---------------------------------------------------------------------------
// Bad input.

#[tokio::test]
async fn bad_input_is_a_400_that_names_the_problem_and_changes_nothing() {
    let admin = Admin::new().await;
    admin.env.put(&admin.env.ratings(3, 1)).await;
    admin.env.engine().run(generous_deadline()).await;
    admin.env.put(&admin.env.ratings(6, 0)[3..]).await;
    let dead = text(&admin.env.dead_letters().await[0], "id");
    let before = admin.snapshot().await;
    let requests_before = admin.env.stats().await["requests_total"].clone();

    let big = format!(
        r#"{{"upload_all": true, "pad": "{}"}}"#,
        "x".repeat(MAX_BODY_BYTES)
    );
    let retry_of = |id: &str| format!("/api/admin/ratings/failed-uploads/{id}/retry");
    let list = |query: &str| format!("/api/admin/ratings/failed-uploads?{query}");
    let foreign_cursor = CursorSigner::new(&Secret::new("another-deployment-secret-0123456789"))
        .unwrap()
        .seal(
            &admin.env.tables.failed_uploads,
            &json!({ "s": null, "p": {} }),
        );
    let other_table_cursor = CursorSigner::new(&Secret::new(SECRET))
        .unwrap()
        .seal("another_table", &json!({ "s": null, "p": {} }));
    let long_id = "r".repeat(257);

    let cases: Vec<(Req, u16, &str, &str)> = vec![
        // The sync trigger's body.
        (
            Endpoint::Sync.request().body(r#"{"upload_all": tru"#),
            400,
            "INVALID_JSON",
            "not valid JSON",
        ),
        (
            Endpoint::Sync.request().body("upload_all=true"),
            400,
            "INVALID_JSON",
            "not valid JSON",
        ),
        (
            Endpoint::Sync.request().body(r#"{"upload_all": "yes"}"#),
            400,
            "VALIDATION_ERROR",
            "upload_all must be true or false, not a string",
        ),
        (
            Endpoint::Sync.request().body(r#"{"upload_all": 1}"#),
            400,
            "VALIDATION_ERROR",
            "upload_all must be true or false, not a number",
        ),
        (
            Endpoint::Sync.request().body(r#"{"upload_all": null}"#),
            400,
            "VALIDATION_ERROR",
            "not null",
        ),
        (
            Endpoint::Sync.request().body("[true]"),
            400,
            "INVALID_JSON",
            "must be a JSON object, not an array",
        ),
        (
            Endpoint::Sync.request().body(r#"{"uploadAll": true}"#),
            400,
            "VALIDATION_ERROR",
            "unknown field \"uploadAll\"",
        ),
        (
            Endpoint::Sync.request().body(&big),
            400,
            "PAYLOAD_TOO_LARGE",
            "at most 16384",
        ),
        (
            Endpoint::Sync
                .request()
                .body(r#"{"upload_all": true}"#)
                .method(Method::GET),
            405,
            "METHOD_NOT_ALLOWED",
            "answers POST",
        ),
        // The retry's id and body.
        (
            Req::new(Endpoint::Retry, &retry_of("a%20b")),
            400,
            "VALIDATION_ERROR",
            "not '%'",
        ),
        (
            Req::new(Endpoint::Retry, &retry_of(&long_id)),
            400,
            "VALIDATION_ERROR",
            "1 to 256 characters",
        ),
        (
            Req::new(Endpoint::Retry, &retry_of("r;drop")),
            400,
            "VALIDATION_ERROR",
            "not ';'",
        ),
        (
            Req::new(Endpoint::Retry, &retry_of("")),
            400,
            "VALIDATION_ERROR",
            "it has 0",
        ),
        (
            Req::new(Endpoint::Retry, &retry_of(&dead)).body(r#"{"force": true}"#),
            400,
            "VALIDATION_ERROR",
            "unknown field \"force\"",
        ),
        (
            Req::new(Endpoint::Retry, &retry_of(&dead)).body("{"),
            400,
            "INVALID_JSON",
            "not valid JSON",
        ),
        (
            Req::new(Endpoint::Retry, &retry_of(&dead)).body(&big),
            400,
            "PAYLOAD_TOO_LARGE",
            "at most 16384",
        ),
        (
            Req::new(Endpoint::Retry, "/api/admin/ratings/failed-uploads"),
            400,
            "VALIDATION_ERROR",
            "/failed-uploads/{id}/retry",
        ),
        // The listing's parameters.
        (
            Req::new(Endpoint::List, &list("limit=0")),
            400,
            "VALIDATION_ERROR",
            "limit must be a whole number from 1 to 100",
        ),
        (
            Req::new(Endpoint::List, &list("limit=101")),
            400,
            "VALIDATION_ERROR",
            "not \"101\"",
        ),
        (
            Req::new(Endpoint::List, &list("limit=ten")),
            400,
            "VALIDATION_ERROR",
            "not \"ten\"",
        ),
        (
            Req::new(Endpoint::List, &list("limit=-5")),
            400,
            "VALIDATION_ERROR",
            "limit must be",
        ),
        (
            Req::new(Endpoint::List, &list("limit=5&limit=6")),
            400,
            "VALIDATION_ERROR",
            "more than once",
        ),
        (
            Req::new(Endpoint::List, &list("status=parked")),
            400,
            "VALIDATION_ERROR",
            "status must be retrying or dead",
        ),
        (
            Req::new(Endpoint::List, &list("page=2")),
            400,
            "VALIDATION_ERROR",
            "unknown query parameter \"page\"",
        ),
        (
            Req::new(Endpoint::List, &list("cursor=garbage")),
            400,
            "INVALID_CURSOR",
            "not one this API issued",
        ),
        (
            Req::new(Endpoint::List, &list(&format!("cursor={foreign_cursor}"))),
            400,
            "INVALID_CURSOR",
            "signature does not match",
        ),
        (
            Req::new(
                Endpoint::List,
                &list(&format!("cursor={other_table_cursor}")),
            ),
            400,
            "INVALID_CURSOR",
            "signature does not match",
        ),
        (
            Req::new(
                Endpoint::List,
                &list(&format!("cursor={}", "A".repeat(3000))),
            ),
            400,
            "INVALID_CURSOR",
            "longer than any",
        ),
        (
            Req::new(Endpoint::List, &list("")).method(Method::DELETE),
            405,
            "METHOD_NOT_ALLOWED",
            "answers GET",
        ),
        // The status page takes nothing.
        (
            Req::new(Endpoint::Status, "/api/admin/sync/ratings/status?verbose=1"),
            400,
            "VALIDATION_ERROR",
            "this endpoint takes none",
        ),
        (
            Endpoint::Status.request().body(r#"{"x": 1}"#),
            400,
            "VALIDATION_ERROR",
            "unknown field \"x\"",
        ),
        // Input an endpoint does not take is refused, not ignored.
        (
            Req::new(Endpoint::Sync, "/api/admin/sync/ratings?upload_all=true"),
            400,
            "VALIDATION_ERROR",
            "unknown query parameter \"upload_all\"",
        ),
        (
            Req::new(Endpoint::Retry, &format!("{}?force=1", retry_of(&dead))),
            400,
            "VALIDATION_ERROR",
            "unknown query parameter \"force\"",
        ),
        (
            Endpoint::List.request().body("{not json"),
            400,
            "INVALID_JSON",
            "not valid JSON",
        ),
        // Two equal keys: which one counts would depend on the parser.
        (
            Endpoint::Sync
                .request()
                .body(r#"{"upload_all": false, "upload_all": true}"#),
            400,
            "VALIDATION_ERROR",
            "field \"upload_all\" is given more than once",
        ),
    ];
    let count = cases.len();
    for (request, status, code, says) in cases {
        let what = format!(
            "{:?} {} {:.60}",
            request.endpoint, request.uri, request.body
        );
        let answer = admin.call(request.admin()).await;
        answer.assert_error(status, code);
        assert!(
            answer.message().contains(says),
            "{what}: {:?} does not say {says:?}",
            answer.message()
        );
        assert!(answer.message().len() < 300, "{what}: a short message");
    }
    assert_eq!(admin.snapshot().await, before, "bad input changes nothing");
    assert_eq!(admin.env.stats().await["requests_total"], requests_before);
    assert_eq!(
        admin.audit().await.len(),
        count,
        "each bad request is recorded"
    );
}

// ---------------------------------------------------------------------------
// The sync trigger.

#[tokio::test]
async fn an_admin_sync_runs_the_engine_and_answers_its_report() {
    let admin = Admin::new().await;
    let ratings = admin.env.ratings(30, 2);
    admin.env.put(&ratings).await;

    let answer = admin.call(Endpoint::Sync.request().admin()).await;

    assert_eq!(answer.status, 200, "{}", answer.body);
    let body = &answer.body;
    assert_eq!(body["success"], true);
    assert_eq!(body["uploaded"], 28);
    assert_eq!(body["failed"], 2);
    assert_eq!(body["skipped"], 0);
    assert_eq!(body["pending_count"], 0);
    assert!(body["error"].is_null());
    assert!(body["requeue"].is_null());
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .starts_with("Uploaded 28 of 30"),
        "{body}"
    );
    assert_eq!(admin.env.stats().await["creates"], 28);
    // The same run as a scheduled one: its report is stored, its lease gone.
    let reports = admin.env.store().recent_reports(5).await.unwrap();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].run_id, body["run_id"].as_str().unwrap());
    let lease = admin
        .env
        .store()
        .lease_state(LEASE_NAME, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(lease, None, "the lease was released");
}

/// `count` ratings that failed once, transiently: each waiting, with a
/// dead-letter item. The marketplace still answers 500 to everything.
async fn failed_once(admin: &Admin, count: usize) -> Vec<Rating> {
    let ratings = admin.env.ratings(count, 0);
    admin.env.put(&ratings).await;
    admin
        .env
        .configure(json!({ "fail_rate": 1.0, "fail_status": 500 }))
        .await;
    admin
        .env
        .engine_with(retry_at_once())
        .run(generous_deadline())
        .await;
    ratings
}

#[tokio::test]
async fn an_admin_sync_takes_due_failures_and_records_them_as_a_scheduled_run_does() {
    let admin = Admin::new().await;
    let ratings = failed_once(&admin, 2).await;
    assert_eq!(admin.env.waiting_ids().await.len(), 2);
    // Now the first one's skill is unknown at the marketplace (404: parked),
    // and the second uploads.
    admin
        .env
        .configure(json!({ "fail_rate": 0.0, "unknown_skills": [ratings[0].skill_id] }))
        .await;

    let answer = admin.call(Endpoint::Sync.request().admin()).await;

    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["uploaded"], 1, "{}", answer.body);
    assert_eq!(answer.body["failed"], 1, "{}", answer.body);
    let store = admin.env.store();
    assert_eq!(
        store.failed_upload(&ratings[1].id).await.unwrap(),
        None,
        "the uploaded rating's failure is removed"
    );
    let parked = store.failed_upload(&ratings[0].id).await.unwrap().unwrap();
    assert_eq!((parked.retry_count, parked.status.as_str()), (2, DEAD));
}

#[tokio::test]
async fn a_retry_that_finds_a_newer_rating_by_the_user_at_the_marketplace_takes_it() {
    let admin = Admin::new().await;
    let ratings = failed_once(&admin, 1).await;
    let rating = &ratings[0];
    // Meanwhile the user rated the skill at the marketplace, an hour later.
    let rated_at = chrono::DateTime::parse_from_rfc3339(&rating.updated_at).unwrap();
    let existing = admin
        .env
        .simulator
        .insert_rating(json!({
            "skill_id": rating.skill_id,
            "user_id": rating.user_id,
            "rating": 5,
            "comment": "from elsewhere",
            "updated_at": timestamp(rated_at.to_utc() + chrono::Duration::hours(1)),
        }))
        .await
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    admin.env.configure(json!({ "fail_rate": 0.0 })).await;

    let answer = admin.call(retry_request(&rating.id)).await;

    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["success"], true, "{}", answer.body);
    assert_eq!(answer.body["remote_id"], existing);
    let item = admin.env.item(&rating.id).await;
    assert_eq!(sync_state(&item), SyncState::Synced);
    assert_eq!(text(&item, "review"), "from elsewhere", "newest wins");
    assert!(admin.env.dead_letters().await.is_empty());
    let logged = admin.env.store().conflicts_of(&rating.id).await.unwrap();
    assert_eq!(logged.len(), 1);
    assert_eq!(text(&logged[0], "strategy"), "remote_wins");
    assert_eq!(
        admin.env.stats().await["creates"],
        0,
        "no second remote rating"
    );
}

#[tokio::test]
async fn pending_count_is_the_whole_backlog_however_large() {
    let env_settings = retry_at_once();
    let admin = Admin::with(env_settings.clone()).await;
    admin.env.put(&admin.env.ratings(150, 0)).await;
    // Credentials the marketplace refuses: the breaker opens on the first
    // answer and the whole backlog stays.
    let context = admin.context.clone();
    let api = SyncApi::new(
        context,
        admin
            .env
            .engine_with_token(env_settings.clone(), "wrong-token"),
        &env_settings,
    );
    let answer = read_answer(
        Endpoint::Sync,
        sync_ratings::handle(
            &api,
            Endpoint::Sync.request().admin().build(),
            generous_deadline(),
        )
        .await,
    );
    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["success"], false);
    assert_eq!(answer.body["pending_count"], 150, "not capped at a page");
    assert_eq!(answer.body["uploaded"], 0);
    assert!(
        !answer.body["error"].as_str().unwrap_or_default().is_empty(),
        "{}",
        answer.body
    );
}

#[tokio::test]
async fn an_admin_sync_while_a_scheduled_run_holds_the_lease_is_503_and_changes_nothing() {
    let admin = Admin::new().await;
    admin.env.put(&admin.env.ratings(40, 0)).await;
    admin.env.configure(json!({ "latency_ms": 300 })).await;
    let scheduled = admin.env.engine_with(retry_at_once());
    let store = admin.env.store();

    let (report, (refused, refused_with_upload_all)) =
        tokio::join!(scheduled.run(generous_deadline()), async {
            eventually(
                Duration::from_secs(10),
                "the scheduled run's lease",
                || async {
                    store
                        .lease_state(LEASE_NAME, chrono::Utc::now())
                        .await
                        .unwrap()
                        .filter(|lease| lease.held)
                },
            )
            .await;
            let refused = admin.call(Endpoint::Sync.request().admin()).await;
            let with_upload_all = admin
                .call(
                    Endpoint::Sync
                        .request()
                        .admin()
                        .body(r#"{"upload_all": true}"#),
                )
                .await;
            (refused, with_upload_all)
        });

    for answer in [&refused, &refused_with_upload_all] {
        answer.assert_error(503, "RATING_SYNC_IN_PROGRESS");
        assert!(answer.body["error"]["details"]["lease_until"].is_string());
        assert!(answer.body["error"]["details"]["requeue"].is_null());
    }
    assert!(report.success, "{report:?}");
    assert_eq!(report.uploaded, 40, "the scheduled run did all the work");
    let stats = admin.env.stats().await;
    assert_eq!(stats["creates"], 40, "each rating once");
    assert_eq!(
        stats["updates"], 0,
        "upload_all requeued nothing to push again"
    );
    assert!(
        admin.env.pending_ids().await.is_empty(),
        "nothing was put back"
    );
    let reports = admin.env.store().recent_reports(5).await.unwrap();
    assert_eq!(reports.len(), 1, "only the scheduled run ran");
    let audit = admin.audit().await;
    assert!(audit
        .iter()
        .all(|r| text(r, "code") == "RATING_SYNC_IN_PROGRESS" && text(r, "outcome") == "rejected"));
}

/// `count` ratings stored as synced, the way the sync leaves them.
async fn put_synced(env: &TestEnv, count: usize) -> Vec<String> {
    let items: Vec<Item> = env
        .ratings(count, 0)
        .iter()
        .map(|rating| {
            let mut item = shared::store::new_rating_item(rating);
            item.remove("synced_to_saas");
            item.insert("synced_at".into(), s("2026-01-01T00:00:00.000Z"));
            item.insert(
                "remote_rating_id".into(),
                s(&format!("remote-{}", rating.id)),
            );
            item
        })
        .collect();
    let ids = items.iter().map(|item| text(item, "id")).collect();
    seed::put_items(&env.client, &env.tables.ratings, items)
        .await
        .unwrap();
    ids
}

#[tokio::test]
async fn upload_all_pushes_every_rating_again_as_an_update() {
    let admin = Admin::new().await;
    let ratings = admin.env.ratings(40, 0);
    admin.env.put(&ratings).await;
    let first = admin.call(Endpoint::Sync.request().admin()).await;
    assert_eq!(first.body["uploaded"], 40, "{}", first.body);

    let answer = admin
        .call(
            Endpoint::Sync
                .request()
                .admin()
                .body(r#"{"upload_all": true}"#),
        )
        .await;

    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.body["requeue"],
        json!({ "requeued": 40, "pass_requeued": 40, "finished": true })
    );
    assert_eq!(answer.body["uploaded"], 40);
    assert_eq!(answer.body["pending_count"], 0);
    let stats = admin.env.stats().await;
    assert_eq!(stats["creates"], 40, "nothing created twice");
    assert_eq!(stats["updates"], 40, "each rating sent again as an update");
    for rating in &ratings {
        assert_eq!(
            sync_state(&admin.env.item(&rating.id).await),
            SyncState::Synced
        );
    }
    assert!(admin.env.store().requeue_pass().await.unwrap().is_none());
}

#[tokio::test]
async fn a_re_push_too_large_for_one_call_goes_on_where_the_last_one_stopped() {
    let admin = Admin::new().await;
    let ids = put_synced(&admin.env, 250).await;
    let store = admin.env.store();
    let spent = tokio::time::Instant::now();

    // No time left: each call does its one page of 100.
    let mut progress = Vec::new();
    for _ in 0..3 {
        let step = sync_ratings::requeue_all(&store, spent, 100).await.unwrap();
        progress.push((step.requeued, step.pass_requeued, step.finished));
        if !step.finished {
            let pass = store.requeue_pass().await.unwrap().expect("progress kept");
            assert_eq!(pass.requeued, step.pass_requeued);
            let shown = admin.call(Endpoint::Status.request().admin()).await;
            assert_eq!(shown.body["requeue_pass"]["requeued"], step.pass_requeued);
        }
    }
    assert_eq!(
        progress,
        [(100, 100, false), (100, 200, false), (50, 250, true)]
    );
    assert_eq!(
        admin
            .env
            .pending_ids()
            .await
            .into_iter()
            .collect::<BTreeSet<_>>(),
        ids.into_iter().collect::<BTreeSet<_>>(),
        "every rating is back in the backlog, each once"
    );
    assert!(
        store.requeue_pass().await.unwrap().is_none(),
        "the pass is over"
    );
    // A new pass reads every page again but skips what is already pending.
    let mut calls = 0;
    loop {
        calls += 1;
        let again = sync_ratings::requeue_all(&store, spent, 100).await.unwrap();
        assert_eq!(again.pass_requeued, 0);
        if again.finished {
            break;
        }
        assert!(calls < 3, "three pages of 100 cover 250 ratings");
    }
}

// ---------------------------------------------------------------------------
// The listing.

#[tokio::test]
async fn paging_through_250_failures_returns_each_once_newest_first() {
    let admin = Admin::new().await;
    let base = chrono::Utc::now() - chrono::Duration::days(2);
    // 250 failures, two in three retrying; every tenth shares its time with
    // the one before, across statuses too.
    let items: Vec<Item> = (0..250)
        .map(|i| {
            let second = if i % 10 == 9 { i - 1 } else { i };
            let at = timestamp(base + chrono::Duration::seconds(second as i64));
            let status = if i % 3 == 0 { DEAD } else { RETRYING };
            admin.dead_letter(i, status, &at)
        })
        .collect();
    let expected: BTreeMap<String, (String, String)> = items
        .iter()
        .map(|i| {
            (
                text(i, "id"),
                (text(i, "last_failed_at"), text(i, "status")),
            )
        })
        .collect();
    seed::put_items(&admin.env.client, &admin.env.tables.failed_uploads, items)
        .await
        .unwrap();

    let walk = |filter: Option<&'static str>, limit: Option<usize>| {
        let admin = &admin;
        async move {
            let mut seen = Vec::new();
            let mut pages = Vec::new();
            let mut cursor: Option<String> = None;
            loop {
                let mut query = Vec::new();
                if let Some(limit) = limit {
                    query.push(format!("limit={limit}"));
                }
                if let Some(status) = filter {
                    query.push(format!("status={status}"));
                }
                if let Some(cursor) = &cursor {
                    query.push(format!("cursor={cursor}"));
                }
                let uri = format!("/api/admin/ratings/failed-uploads?{}", query.join("&"));
                let answer = admin.call(Req::new(Endpoint::List, &uri).admin()).await;
                assert_eq!(answer.status, 200, "{}", answer.body);
                let items = answer.body["items"].as_array().unwrap().clone();
                assert_eq!(answer.body["count"], items.len());
                pages.push(items.len());
                seen.extend(items);
                match answer.body["next_cursor"].as_str() {
                    Some(next) => cursor = Some(next.to_owned()),
                    None => return (seen, pages),
                }
                assert!(pages.len() < 100, "the listing ends");
            }
        }
    };

    for (filter, limit, pages) in [
        (None, None, vec![50, 50, 50, 50, 50]),
        (None, Some(100), vec![100, 100, 50]),
        (None, Some(7), [vec![7; 35], vec![5]].concat()),
        (Some(DEAD), Some(100), vec![84]),
        (Some(RETRYING), Some(40), vec![40, 40, 40, 40, 6]),
    ] {
        let (seen, sizes) = walk(filter, limit).await;
        assert_eq!(sizes, pages, "{filter:?} {limit:?}");
        let ids: Vec<String> = seen
            .iter()
            .map(|i| i["id"].as_str().unwrap().to_owned())
            .collect();
        let unique: BTreeSet<&String> = ids.iter().collect();
        assert_eq!(
            unique.len(),
            ids.len(),
            "no duplicates ({filter:?} {limit:?})"
        );
        let wanted: BTreeSet<&String> = expected
            .iter()
            .filter(|(_, (_, status))| filter.is_none_or(|f| f == status))
            .map(|(id, _)| id)
            .collect();
        assert_eq!(unique, wanted, "no gaps ({filter:?} {limit:?})");
        let times: Vec<&str> = seen
            .iter()
            .map(|i| i["last_failed_at"].as_str().unwrap())
            .collect();
        assert!(
            times.windows(2).all(|w| w[0] >= w[1]),
            "newest first ({filter:?} {limit:?})"
        );
        for item in &seen {
            let id = item["id"].as_str().unwrap();
            assert_eq!(item["status"], expected[id].1);
        }
    }
}

#[tokio::test]
async fn a_listed_failure_shows_what_the_sync_recorded() {
    let admin = Admin::new().await;
    let ratings = admin.env.ratings(3, 1);
    admin.env.put(&ratings).await;
    admin.env.engine().run(generous_deadline()).await;

    let answer = admin.call(Endpoint::List.request().admin()).await;

    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["limit"], 50);
    assert!(answer.body["next_cursor"].is_null());
    let items = answer.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 1);
    let item = &items[0];
    let invalid = &ratings[2];
    assert_eq!(item["id"], invalid.id);
    assert_eq!(item["rating_id"], invalid.id);
    assert_eq!(item["tenant_id"], invalid.tenant_id);
    assert_eq!(
        item["error_message"],
        format!("Invalid rating value: {}. Must be 1-5", invalid.rating)
    );
    assert_eq!(item["retry_count"], 1);
    assert!(item["last_retry_at"].is_null());
    assert!(item["next_retry_at"].is_null());
    assert_eq!(item["status"], DEAD);
    assert_eq!(item["retryable"], false);
    assert_eq!(item["failed_at"], item["last_failed_at"]);
}

#[tokio::test]
async fn a_cursor_is_refused_when_altered_or_used_with_another_filter() {
    let admin = Admin::new().await;
    let at = timestamp(chrono::Utc::now());
    let items: Vec<Item> = (0..5).map(|i| admin.dead_letter(i, DEAD, &at)).collect();
    seed::put_items(&admin.env.client, &admin.env.tables.failed_uploads, items)
        .await
        .unwrap();
    let page = admin
        .call(
            Req::new(
                Endpoint::List,
                "/api/admin/ratings/failed-uploads?limit=2&status=dead",
            )
            .admin(),
        )
        .await;
    let cursor = page.body["next_cursor"].as_str().unwrap().to_owned();
    let (payload, tag) = cursor.split_once('.').unwrap();
    let mut decoded: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
    decoded["p"]["dead"]["after"]["id"] = json!("zzz");
    let forged = format!("{}.{tag}", URL_SAFE_NO_PAD.encode(decoded.to_string()));

    for (query, says) in [
        (
            format!("limit=2&status=dead&cursor={forged}"),
            "signature does not match",
        ),
        (format!("limit=2&cursor={cursor}"), "issued for status=dead"),
        (
            format!("limit=2&status=retrying&cursor={cursor}"),
            "issued for status=dead",
        ),
    ] {
        let answer = admin
            .call(
                Req::new(
                    Endpoint::List,
                    &format!("/api/admin/ratings/failed-uploads?{query}"),
                )
                .admin(),
            )
            .await;
        answer.assert_error(400, "INVALID_CURSOR");
        assert!(answer.message().contains(says), "{}", answer.message());
    }
    let next = admin
        .call(
            Req::new(
                Endpoint::List,
                &format!("/api/admin/ratings/failed-uploads?limit=2&status=dead&cursor={cursor}"),
            )
            .admin(),
        )
        .await;
    assert_eq!(next.status, 200, "the genuine cursor still works");
    assert_eq!(next.body["count"], 2);
}

// ---------------------------------------------------------------------------
// The retry.

fn retry_request(id: &str) -> Req {
    Req::new(
        Endpoint::Retry,
        &format!("/api/admin/ratings/failed-uploads/{id}/retry"),
    )
    .admin()
}

#[tokio::test]
async fn retrying_an_unknown_id_is_404() {
    let admin = Admin::new().await;
    let answer = admin.call(retry_request("no-such-rating")).await;
    answer.assert_error(404, "NOT_FOUND");
    assert_eq!(answer.body["error"]["details"]["id"], "no-such-rating");
    assert_eq!(admin.env.stats().await["requests_total"], 0);
}

#[tokio::test]
async fn retrying_a_rating_that_is_gone_removes_its_failure() {
    let admin = Admin::new().await;
    let ratings = admin.env.ratings(1, 1);
    admin.env.put(&ratings).await;
    admin.env.engine().run(generous_deadline()).await;
    let id = &ratings[0].id;
    assert_eq!(admin.env.dead_letters().await.len(), 1);
    admin
        .env
        .client
        .delete_item()
        .table_name(&admin.env.tables.ratings)
        .key("id", s(id))
        .send()
        .await
        .unwrap();

    let answer = admin.call(retry_request(id)).await;

    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(
        answer.body,
        json!({
            "success": false,
            "message": "Rating no longer exists, failed record removed",
            "retry_triggered": false,
        })
    );
    assert!(admin.env.dead_letters().await.is_empty());
    assert_eq!(admin.env.stats().await["requests_total"], 0);
}

#[tokio::test]
async fn retrying_a_parked_rating_that_now_uploads_syncs_it_and_removes_its_failure() {
    let admin = Admin::new().await;
    let ratings = admin.env.ratings(1, 0);
    admin.env.put(&ratings).await;
    let id = &ratings[0].id;
    // Refused for good: parked, out of every index.
    admin
        .env
        .configure(json!({ "fail_rate": 1.0, "fail_status": 422 }))
        .await;
    admin.env.engine().run(generous_deadline()).await;
    assert_eq!(sync_state(&admin.env.item(id).await), SyncState::Parked);
    assert_eq!(text(&admin.env.dead_letters().await[0], "status"), DEAD);
    admin.env.configure(json!({ "fail_rate": 0.0 })).await;

    let answer = admin.call(retry_request(id)).await;

    assert_eq!(answer.status, 200, "{}", answer.body);
    let item = admin.env.item(id).await;
    assert_eq!(sync_state(&item), SyncState::Synced);
    let remote_id = text(&item, "remote_rating_id");
    assert_eq!(
        answer.body,
        json!({
            "success": true,
            "message": format!("Rating uploaded successfully (remote_id: {remote_id})"),
            "retry_triggered": true,
            "remote_id": remote_id,
        })
    );
    assert!(admin.env.dead_letters().await.is_empty());
    assert_eq!(admin.env.stats().await["creates"], 1);
}

#[tokio::test]
async fn a_retry_that_fails_again_counts_the_attempt() {
    let admin = Admin::new().await;
    let ratings = failed_once(&admin, 1).await;
    let id = &ratings[0].id;
    let before = admin.env.store().failed_upload(id).await.unwrap().unwrap();
    assert_eq!(before.retry_count, 1);
    assert_eq!(before.last_retry_at, None);

    let answer = admin.call(retry_request(id)).await;

    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["success"], false);
    assert_eq!(answer.body["retry_triggered"], true);
    let message = answer.body["message"].as_str().unwrap();
    assert!(message.starts_with("Retry failed: "), "{message}");
    assert!(message.contains("500"), "{message}");
    let after = admin.env.store().failed_upload(id).await.unwrap().unwrap();
    assert_eq!(after.retry_count, 2);
    assert_eq!(after.failed_at, before.failed_at);
    let retried_at = after.last_retry_at.expect("last_retry_at set");
    assert!(retried_at.ends_with('Z'), "UTC: {retried_at}");
    let retried_at = chrono::DateTime::parse_from_rfc3339(&retried_at).unwrap();
    assert!(
        chrono::Utc::now() - retried_at.with_timezone(&chrono::Utc) < chrono::Duration::seconds(60)
    );
    assert_eq!(
        after.last_failed_at,
        Some(timestamp(retried_at.with_timezone(&chrono::Utc)))
    );
}

#[tokio::test]
async fn a_retry_of_a_rating_the_app_rewrote_since_it_failed_adds_to_its_failure() {
    let admin = Admin::new().await;
    let ratings = failed_once(&admin, 1).await;
    let id = &ratings[0].id;
    // The Atom app writes the whole item again: its failure count is gone,
    // the dead-letter item stays.
    admin.env.put(&ratings).await;

    let answer = admin.call(retry_request(id)).await;

    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(answer.body["success"], false, "{}", answer.body);
    let letters = admin.env.dead_letters().await;
    assert_eq!(letters.len(), 1, "still one item");
    let failure = admin.env.store().failed_upload(id).await.unwrap().unwrap();
    assert_eq!(failure.retry_count, 2, "counted on, not started again");
}

// ---------------------------------------------------------------------------
// The status page.

#[tokio::test]
async fn the_status_page_counts_everything_and_shows_the_lease_and_the_last_runs() {
    let admin = Admin::new().await;
    let env = &admin.env;
    // A run: 8 synced, 2 parked.
    env.put(&env.ratings(10, 2)).await;
    let report = env.engine().run(generous_deadline()).await;
    assert_eq!((report.uploaded, report.parked), (8, 2));
    // 5 new ratings, and 3 failed ones waiting for a later attempt.
    let start = chrono::Utc::now();
    let fresh: Vec<_> = (100..105)
        .map(|i| seed::sample_rating(&env.prefix, i, start))
        .collect();
    env.put(&fresh).await;
    let waiting: Vec<Item> = (200..203)
        .map(|i| {
            let mut item =
                shared::store::new_rating_item(&seed::sample_rating(&env.prefix, i, start));
            item.remove("synced_to_saas");
            item.insert("sync_retry".into(), s("waiting"));
            item.insert("next_attempt_at".into(), s("2030-01-01T00:00:00.000Z"));
            item
        })
        .collect();
    seed::put_items(&env.client, &env.tables.ratings, waiting)
        .await
        .unwrap();
    let at = timestamp(start);
    let retrying: Vec<Item> = (200..203)
        .map(|i| admin.dead_letter(i, RETRYING, &at))
        .collect();
    seed::put_items(&env.client, &env.tables.failed_uploads, retrying)
        .await
        .unwrap();
    // Two logged conflicts, and a scheduled run holding the lease.
    let conflicts: Vec<Item> = (0..2)
        .map(|i| {
            HashMap::from([
                ("pk".to_owned(), s(shared::store::CONFLICT_PARTITION)),
                ("sk".to_owned(), s(&format!("{at}#r{i}"))),
            ])
        })
        .collect();
    seed::put_items(&env.client, &env.tables.sync_state, conflicts)
        .await
        .unwrap();
    let until = chrono::Utc::now() + chrono::Duration::seconds(60);
    env.store()
        .acquire_lease(LEASE_NAME, "scheduled-run-1", until, chrono::Utc::now())
        .await
        .unwrap();
    let before = admin.snapshot().await;

    let answer = admin.call(Endpoint::Status.request().admin()).await;

    assert_eq!(answer.status, 200, "{}", answer.body);
    let body = &answer.body;
    assert_eq!(body["success"], true);
    assert_eq!(body["pending_count"], 8, "5 pending and 3 waiting");
    assert_eq!(body["waiting_count"], 3);
    assert_eq!(body["failed_count"], 5, "3 retrying and 2 parked");
    assert_eq!(body["parked_count"], 2);
    assert_eq!(body["conflict_count"], 2);
    assert_eq!(
        body["lease"],
        json!({ "held": true, "holder": "scheduled-run-1", "until": timestamp(until) })
    );
    assert!(body["requeue_pass"].is_null());
    let runs = body["recent_runs"].as_array().unwrap();
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0]["run_id"], report.run_id);
    assert_eq!(runs[0]["uploaded"], 8);
    // Recorded as the run ended (the same format orders as text).
    let last_success = body["last_success_at"].as_str().expect("a time");
    assert!(last_success >= report.finished_at.as_str(), "{body}");
    assert!(
        last_success <= body["checked_at"].as_str().unwrap(),
        "{body}"
    );
    assert_eq!(body["consecutive_failed_runs"], 0);
    assert_eq!(
        admin.snapshot().await,
        before,
        "the status page changes nothing"
    );
}

#[tokio::test]
async fn the_status_page_of_a_fresh_install_is_all_zeros() {
    let admin = Admin::new().await;
    let answer = admin.call(Endpoint::Status.request().admin()).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    for count in [
        "pending_count",
        "waiting_count",
        "failed_count",
        "parked_count",
        "conflict_count",
    ] {
        assert_eq!(answer.body[count], 0, "{count}");
    }
    assert_eq!(
        answer.body["lease"],
        json!({ "held": false, "holder": null, "until": null })
    );
    assert_eq!(answer.body["recent_runs"], json!([]));
    assert!(answer.body["last_success_at"].is_null());
    assert_eq!(answer.body["consecutive_failed_runs"], 0);
}

// ---------------------------------------------------------------------------
// Hostile callers: two re-pushes at once, and requests built to break the
// handlers.

use lambda_http::http::HeaderValue;
use lambda_http::RequestExt as _;

#[tokio::test]
async fn two_upload_all_calls_at_once_one_runs_and_the_other_is_503_having_changed_nothing() {
    const COUNT: usize = 40;
    let admin = Admin::new().await;
    let ratings = admin.env.ratings(COUNT, 0);
    admin.env.put(&ratings).await;
    let seeded = admin
        .env
        .engine_with(retry_at_once())
        .run(generous_deadline())
        .await;
    assert_eq!(seeded.uploaded, COUNT as u64, "{seeded:?}");
    // A slow marketplace: the first run still holds the lease when the
    // second call asks for it.
    admin.env.configure(json!({ "latency_ms": 50 })).await;
    let upload_all = || {
        Endpoint::Sync
            .request()
            .admin()
            .body(r#"{"upload_all": true}"#)
    };

    // Boxed: two handler futures side by side overflow a test thread's
    // stack in a debug build.
    let (first, second) = tokio::join!(
        Box::pin(admin.call(upload_all())),
        Box::pin(admin.call(upload_all()))
    );

    let mut statuses = [first.status, second.status];
    statuses.sort_unstable();
    assert_eq!(
        statuses,
        [200, 503],
        "one runs, one is refused:\n{}\n{}",
        first.body,
        second.body
    );
    let (ran, refused) = if first.status == 200 {
        (&first, &second)
    } else {
        (&second, &first)
    };
    refused.assert_error(503, "RATING_SYNC_IN_PROGRESS");
    assert!(
        refused.body["error"]["details"]["requeue"].is_null(),
        "the refused call requeued nothing: {}",
        refused.body
    );
    assert_eq!(ran.body["success"], true, "{}", ran.body);
    assert_eq!(
        ran.body["requeue"],
        json!({ "requeued": COUNT, "pass_requeued": COUNT, "finished": true }),
        "the pass counts each rating once"
    );
    assert_eq!(ran.body["uploaded"], COUNT, "{}", ran.body);
    assert_eq!(ran.body["pending_count"], 0, "{}", ran.body);
    let stats = admin.env.stats().await;
    assert_eq!(stats["creates"], COUNT, "nothing created twice");
    assert_eq!(stats["updates"], COUNT, "each rating pushed again once");
    assert!(
        admin.env.pending_ids().await.is_empty(),
        "nothing left over"
    );
    for rating in &ratings {
        assert_eq!(
            sync_state(&admin.env.item(&rating.id).await),
            SyncState::Synced
        );
    }
    let store = admin.env.store();
    assert!(store.requeue_pass().await.unwrap().is_none());
    let reports = store.recent_reports(5).await.unwrap();
    assert_eq!(
        reports.len(),
        2,
        "the seeding run and the re-push; the refused call ran nothing"
    );
    let lease = store
        .lease_state(LEASE_NAME, chrono::Utc::now())
        .await
        .unwrap();
    assert_eq!(lease, None, "the lease was released");
}

/// A fixed-seed xorshift64: the hostile requests are the same on every run.
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }

    fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
}

/// Every byte outside the unreserved set, percent-encoded.
fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// The part of a request a mutation breaks, in the order the handlers
/// check them: the token, the method, then the input.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Part {
    Authorization,
    Method,
    Path,
    Query,
    Body,
}

impl Part {
    fn checked_at(self) -> u8 {
        match self {
            Self::Authorization => 0,
            Self::Method => 1,
            Self::Path | Self::Query | Self::Body => 2,
        }
    }
}

const EVERY_ENDPOINT: &[Endpoint] = &Endpoint::ALL;
/// The endpoints that read a body (the listing does not).
const WITH_BODY: &[Endpoint] = &[Endpoint::Sync, Endpoint::Retry, Endpoint::Status];
/// The endpoints that read the query string (the two POSTs do not).
const WITH_QUERY: &[Endpoint] = &[Endpoint::List, Endpoint::Status];
const RETRY_ONLY: &[Endpoint] = &[Endpoint::Retry];

/// One way to break a request, and what it must be answered with.
struct Mutation {
    name: &'static str,
    part: Part,
    status: u16,
    endpoints: &'static [Endpoint],
    apply: Apply,
}

/// What a client can put on the wire, API Gateway's path parameter
/// included.
struct Hostile {
    endpoint: Endpoint,
    method: Method,
    path: String,
    query: Option<String>,
    authorization: Option<Vec<u8>>,
    body: Vec<u8>,
    /// The `{id}` as API Gateway's route hands it to the retry function
    /// (decoded); `None` where the function reads it from the path.
    routed_id: Option<String>,
    applied: Vec<&'static str>,
}

impl Hostile {
    /// A request the endpoint would carry out (a 200, or a 404 for an
    /// unknown retry id); each mutation then breaks one part of it.
    fn valid(endpoint: Endpoint, dead_ids: &[String], rng: &mut XorShift) -> Self {
        let (method, path) = endpoint.route();
        let mut request = Self {
            endpoint,
            method,
            path: path.to_owned(),
            query: None,
            authorization: None,
            body: Vec::new(),
            routed_id: None,
            applied: Vec::new(),
        };
        request.bearer(format!("Bearer {}", admin_token()));
        match endpoint {
            Endpoint::Sync => {
                let body = rng.pick(&[
                    "",
                    " \n",
                    "{}",
                    r#"{"upload_all": false}"#,
                    r#"{"upload_all": true}"#,
                ]);
                request.body(body);
            }
            Endpoint::List => {
                let query = rng.pick(&["", "limit=10", "status=dead", "limit=100&status=retrying"]);
                request.query = Some(query.to_string()).filter(|q| !q.is_empty());
            }
            Endpoint::Retry => {
                let id = if rng.one_in(3) {
                    "no-such-rating".to_owned()
                } else {
                    dead_ids[rng.below(dead_ids.len())].clone()
                };
                request.retry_id(&id, rng.one_in(2));
                request.body(rng.pick(&["", "{}"]));
            }
            Endpoint::Status => request.body(rng.pick(&["", "{}"])),
        }
        request
    }

    fn bearer(&mut self, value: String) {
        self.authorization = Some(value.into_bytes());
    }

    fn body(&mut self, body: &str) {
        self.body = body.as_bytes().to_vec();
    }

    /// The retry of `id`, routed (API Gateway hands the decoded id as a
    /// path parameter) or not (the function reads the path).
    fn retry_id(&mut self, id: &str, routed: bool) {
        self.path = format!(
            "/api/admin/ratings/failed-uploads/{}/retry",
            percent_encoded(id)
        );
        self.routed_id = routed.then(|| id.to_owned());
    }

    /// A path segment as sent, without a route.
    fn raw_retry_id(&mut self, raw: &str) {
        self.path = format!("/api/admin/ratings/failed-uploads/{raw}/retry");
        self.routed_id = None;
    }

    /// `bad` as the query, or after the valid one.
    fn query(&mut self, bad: String, rng: &mut XorShift) {
        self.query = match self.query.take() {
            Some(valid) if rng.one_in(2) => Some(format!("{valid}&{bad}")),
            _ => Some(bad),
        };
    }

    fn build(&self) -> Request {
        let uri = match &self.query {
            Some(query) => format!("{}?{query}", self.path),
            None => self.path.clone(),
        };
        let mut builder = http::Request::builder()
            .method(self.method.clone())
            .uri(uri)
            .header("content-type", "application/json");
        if let Some(value) = &self.authorization {
            let value = HeaderValue::from_bytes(value)
                .unwrap_or_else(|e| panic!("{}: not a header value: {e}", self.describe()));
            builder = builder.header("authorization", value);
        }
        let body = match String::from_utf8(self.body.clone()) {
            Ok(text) if text.is_empty() => Body::Empty,
            Ok(text) => Body::Text(text),
            Err(not_utf8) => Body::Binary(not_utf8.into_bytes()),
        };
        let request = builder
            .body(body)
            .unwrap_or_else(|e| panic!("{}: not a request: {e}", self.describe()));
        match &self.routed_id {
            Some(id) => {
                request.with_path_parameters(HashMap::from([("id".to_owned(), id.clone())]))
            }
            None => request,
        }
    }

    fn describe(&self) -> String {
        let shown = |bytes: &[u8]| {
            let text = String::from_utf8_lossy(bytes);
            let cut: String = text.chars().take(60).collect();
            format!("{cut:?} ({} bytes)", bytes.len())
        };
        let query = self
            .query
            .as_deref()
            .map_or(String::new(), |query| format!("?{query:.80}"));
        format!(
            "[{}] {:?} {} {:.80}{query} routed id {:?}, authorization {}, body {}",
            self.applied.join(" + "),
            self.endpoint,
            self.method,
            self.path,
            self.routed_id
                .as_deref()
                .map(|id| id.chars().take(40).collect::<String>()),
            self.authorization.as_deref().map_or("none".into(), shown),
            shown(&self.body),
        )
    }
}

/// A base64url string of `len` characters (a plausible token segment).
fn segment(len: usize, rng: &mut XorShift) -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    (0..len).map(|_| char::from(rng.pick(ALPHABET))).collect()
}

type Apply = fn(&mut Hostile, &mut XorShift);

fn unauthorized(name: &'static str, apply: Apply) -> Mutation {
    Mutation {
        name,
        part: Part::Authorization,
        status: 401,
        endpoints: EVERY_ENDPOINT,
        apply,
    }
}

fn bad_path(name: &'static str, apply: Apply) -> Mutation {
    Mutation {
        name,
        part: Part::Path,
        status: 400,
        endpoints: RETRY_ONLY,
        apply,
    }
}

fn bad_query(name: &'static str, apply: Apply) -> Mutation {
    Mutation {
        name,
        part: Part::Query,
        status: 400,
        endpoints: WITH_QUERY,
        apply,
    }
}

fn bad_body(name: &'static str, apply: Apply) -> Mutation {
    Mutation {
        name,
        part: Part::Body,
        status: 400,
        endpoints: WITH_BODY,
        apply,
    }
}

/// Every way to break a request, each applied to a valid request of one
/// of its endpoints.
fn hostile_mutations() -> Vec<Mutation> {
    vec![
        // The Authorization header.
        unauthorized("no Authorization header", |r, _| r.authorization = None),
        unauthorized("the token with junk after it", |r, rng| {
            let junk = rng.pick(&["x", "=", ".", "..", "%00", "\\0", "~", "%2e", "'"]);
            r.bearer(format!("Bearer {}{junk}", admin_token()));
        }),
        unauthorized("the token, a space and more", |r, rng| {
            let token = admin_token();
            let more = rng
                .pick(&["x", "Bearer", "and-more", token.as_str()])
                .to_string();
            r.bearer(format!("Bearer {token} {more}"));
        }),
        unauthorized("a fourth segment", |r, rng| {
            let extra = rng.pick(&["", "e30", "x"]);
            r.bearer(format!("Bearer {}.{extra}", admin_token()));
        }),
        unauthorized("non-ASCII bytes in the token", |r, rng| {
            let mut value = format!("Bearer {}", admin_token()).into_bytes();
            let at = "Bearer ".len() + rng.below(value.len() - "Bearer ".len());
            let bytes: &[u8] = rng.pick(&[&b"\xff"[..], b"\xc3\xa9", b"\x80", b"\xe2\x80\xae"]);
            value.splice(at..at, bytes.iter().copied());
            r.authorization = Some(value);
        }),
        unauthorized("non-ASCII bytes alone", |r, rng| {
            let value: &[u8] = rng.pick(&[
                &b"Bearer \xff\xfe\xfd"[..],
                b"\xc3\xa9",
                b"Bearer \x80.\x80.\x80",
            ]);
            r.authorization = Some(value.to_vec());
        }),
        unauthorized("a 10 KB token", |r, rng| {
            let value = match rng.below(3) {
                0 => format!("Bearer {}", segment(10 * 1024, rng)),
                1 => format!(
                    "Bearer {}.{}.{}",
                    segment(3400, rng),
                    segment(3400, rng),
                    segment(3400, rng)
                ),
                _ => format!("Bearer {}{}", admin_token(), segment(10 * 1024, rng)),
            };
            r.bearer(value);
        }),
        unauthorized("Bearer alone", |r, _| r.bearer("Bearer".into())),
        unauthorized("Bearer and many spaces", |r, rng| {
            r.bearer(format!("Bearer{}", " ".repeat(1 + rng.below(4000))));
        }),
        unauthorized("spaces or nothing", |r, rng| {
            r.bearer(" ".repeat(rng.below(4000)));
        }),
        unauthorized("another scheme", |r, rng| {
            let token = admin_token();
            let scheme = rng.pick(&[
                "Basic ", "Token ", "Bearer: ", "JWT ", "Bearer-", "Bearer\t", "",
            ]);
            r.bearer(format!("{scheme}{token}"));
        }),
        unauthorized(
            "two tokens, joined as API Gateway joins repeated headers",
            |r, rng| {
                let separator = rng.pick(&[",", ", "]);
                r.bearer(format!(
                    "Bearer {}{separator}Bearer {}",
                    admin_token(),
                    admin_token()
                ));
            },
        ),
        unauthorized("a changed signature", |r, rng| {
            let token = admin_token();
            let (signed, signature) = token.rsplit_once('.').unwrap();
            let mut signature: Vec<char> = signature.chars().collect();
            let at = rng.below(signature.len() - 2);
            signature[at] = if signature[at] == 'A' { 'B' } else { 'A' };
            let signature: String = signature.into_iter().collect();
            r.bearer(format!("Bearer {signed}.{signature}"));
        }),
        unauthorized("another token's claims under this signature", |r, _| {
            let token = admin_token();
            let other = token_with(json!({ "sub": "intruder@example.com" }));
            let mut parts: Vec<&str> = token.split('.').collect();
            parts[1] = other.split('.').nth(1).unwrap();
            r.bearer(format!("Bearer {}", parts.join(".")));
        }),
        unauthorized("an unsigned token", |r, _| {
            r.bearer(format!("Bearer {}", unsigned_token()));
        }),
        unauthorized("an expired token", |r, _| {
            let expired = token_with(json!({ "exp": now_seconds() - 3600 }));
            r.bearer(format!("Bearer {expired}"));
        }),
        unauthorized("a token of another deployment", |r, _| {
            let foreign = shared::auth::sign_token(
                &Secret::new("another-deployment-secret-0123456789"),
                &claims(json!({})),
            )
            .unwrap();
            r.bearer(format!("Bearer {foreign}"));
        }),
        Mutation {
            name: "a valid token without the right",
            part: Part::Authorization,
            status: 403,
            endpoints: EVERY_ENDPOINT,
            apply: |r, rng| {
                let denied = [
                    json!({ "role": "member" }),
                    json!({ "role": "SUPER_ADMIN" }),
                    json!({ "agent_id": "agent-7", "maturity": "SUPERVISED" }),
                ];
                let changes = denied[rng.below(denied.len())].clone();
                r.bearer(format!("Bearer {}", token_with(changes)));
            },
        },
        // The method.
        Mutation {
            name: "a method the endpoint does not answer",
            part: Part::Method,
            status: 405,
            endpoints: EVERY_ENDPOINT,
            apply: |r, rng| {
                let long = format!("X-{}", "M".repeat(100));
                let methods = [
                    Method::GET,
                    Method::POST,
                    Method::PUT,
                    Method::DELETE,
                    Method::PATCH,
                    Method::HEAD,
                    Method::OPTIONS,
                    Method::TRACE,
                    Method::from_bytes(b"get").unwrap(),
                    Method::from_bytes(b"post").unwrap(),
                    Method::from_bytes(b"PURGE").unwrap(),
                    Method::from_bytes(long.as_bytes()).unwrap(),
                ];
                let right = r.endpoint.route().0;
                let wrong: Vec<&Method> = methods.iter().filter(|m| **m != right).collect();
                r.method = rng.pick(&wrong).clone();
            },
        },
        // The retry's id.
        bad_path("a routed id that climbs", |r, rng| {
            let id = rng.pick(&["..", "../x", "../../etc/passwd", "a/../b", "./x", "."]);
            r.retry_id(id, true);
        }),
        bad_path("dots in the path", |r, rng| {
            let raw = rng.pick(&["..", ".", "../x", "%2e%2e", "..%2F..%2Fx", ".%2E", "...."]);
            r.raw_retry_id(raw);
        }),
        bad_path("an id of 257 to 300 characters", |r, rng| {
            let id = match rng.below(3) {
                0 => "r".repeat(300),
                1 => "r".repeat(257),
                _ => "é".repeat(300),
            };
            let routed = rng.one_in(2);
            r.retry_id(&id, routed);
        }),
        bad_path("an encoded slash", |r, rng| {
            if rng.one_in(2) {
                r.retry_id("a/b", true);
            } else {
                r.raw_retry_id(rng.pick(&["a%2Fb", "%2F", "%2f..%2f", "%5C"]));
            }
        }),
        bad_path("a unicode id", |r, rng| {
            if rng.one_in(3) {
                r.raw_retry_id(rng.pick(&["%C3%A9", "%F0%9F%99%82", "%E2%80%AE"]));
            } else {
                let id = rng.pick(&[
                    "é",
                    "日本語",
                    "🙂",
                    "r\u{202e}1",
                    "ｒａｔｉｎｇ",
                    "r\u{0}1",
                    "r\u{200b}1",
                ]);
                r.retry_id(id, true);
            }
        }),
        bad_path("an empty or blank id", |r, rng| {
            if rng.one_in(3) {
                r.raw_retry_id("");
            } else {
                let id = rng.pick(&["", " ", "\t", "\r\n", "%20"]);
                r.retry_id(id, true);
            }
        }),
        bad_path("an id with separators", |r, rng| {
            let id = rng.pick(&[
                "a b", "a;b", "a,b", "a?b", "a#b", "a&b=c", "*", "r'1", "r\"1", "<script>", "a%b",
            ]);
            r.retry_id(id, true);
        }),
        bad_path("no id in the path", |r, rng| {
            r.path = rng
                .pick(&[
                    "/api/admin/ratings/failed-uploads",
                    "/api/admin/ratings/failed-uploads/retry",
                    "/",
                    "/api/admin/ratings/failed-uploads/a/b/retry",
                    "/api/admin/ratings/failed-uploads/r1/retry/more",
                ])
                .to_string();
            r.routed_id = None;
        }),
        // The query string.
        bad_query("an unknown parameter", |r, rng| {
            let long = format!("{}=1", "a".repeat(3000));
            let bad = rng.pick(&[
                "page=2",
                "upload_all=true",
                "LIMIT=5",
                "limit%5B%5D=5",
                "=",
                "x",
                "%00=1",
                "limit+=5",
                "callback=alert(1)",
                long.as_str(),
            ]);
            r.query(bad.to_string(), rng);
        }),
        bad_query("a repeated parameter", |r, rng| {
            let bad = rng.pick(&[
                "limit=5&limit=5",
                "status=dead&status=dead",
                "cursor=a&cursor=a",
            ]);
            r.query(bad.to_string(), rng);
        }),
        bad_query("percent-encoding garbage", |r, rng| {
            let bad = rng.pick(&[
                "limit=%",
                "limit=%ZZ",
                "limit=%FF",
                "%=%",
                "status=dead%00",
                "limit=5%00",
                "status=%64%65%61%64%",
                "%%%%",
                "limit=%2B%2D5",
            ]);
            r.query(bad.to_string(), rng);
        }),
        bad_query("an enormous limit", |r, rng| {
            let long = format!("limit={}", "9".repeat(5000));
            let bad = rng.pick(&[
                "limit=1e30",
                "limit=1000000000000000000000000000000",
                "limit=18446744073709551616",
                "limit=18446744073709551615",
                "limit=Infinity",
                "limit=NaN",
                "limit=0x10",
                "limit=5.0",
                "limit=1_0",
                long.as_str(),
            ]);
            r.query(bad.to_string(), rng);
        }),
        bad_query("a negative or zero limit", |r, rng| {
            let bad = rng.pick(&[
                "limit=-1",
                "limit=-0",
                "limit=-9223372036854775808",
                "limit=%2D5",
                "limit=0",
                "limit=-",
                "limit=",
            ]);
            r.query(bad.to_string(), rng);
        }),
        bad_query("a bad cursor", |r, rng| {
            let shaped = URL_SAFE_NO_PAD.encode(json!({ "s": null, "p": {} }).to_string());
            let tag = URL_SAFE_NO_PAD.encode([7u8; 32]);
            let deep = URL_SAFE_NO_PAD.encode(format!("{}{}", "[".repeat(500), "]".repeat(500)));
            let bad = match rng.below(10) {
                0 => "cursor=".to_owned(),
                1 => "cursor=garbage".to_owned(),
                2 => "cursor=a.b".to_owned(),
                3 => "cursor=..".to_owned(),
                4 => format!("cursor={}", "A".repeat(3000)),
                5 => "cursor=%FF%FE".to_owned(),
                6 => format!("cursor={shaped}"),
                7 => format!("cursor={shaped}.{tag}"),
                8 => format!("cursor={deep}.{tag}"),
                _ => "cursor=%00".to_owned(),
            };
            r.query(bad, rng);
        }),
        bad_query("a status that is not one", |r, rng| {
            let bad = rng.pick(&[
                "status=DEAD",
                "status=",
                "status=dead%20",
                "status=parked",
                "status=retrying,dead",
                "status%5B%5D=dead",
            ]);
            r.query(bad.to_string(), rng);
        }),
        // The body.
        bad_body("invalid JSON", |r, rng| {
            let bad = rng.pick(&[
                "{",
                "}",
                r#"{"upload_all": tru"#,
                "upload_all=true",
                "{'upload_all': true}",
                r#"{"upload_all": true,}"#,
                r#"{"upload_all": true}}"#,
                "nul",
                "\"",
                r#"{"upload_all" true}"#,
                "/* */{}",
                r#"{"upload_all": True}"#,
                "{upload_all: true}",
                r#"{"upload_all": true} {}"#,
                "[",
                "NaN",
            ]);
            r.body(bad);
        }),
        bad_body("10,000 levels of nesting", |r, rng| {
            let bad = match rng.below(3) {
                0 => "[".repeat(10_000),
                1 => format!("{}{}", "[".repeat(8000), "]".repeat(8000)),
                _ => format!(r#"{{"upload_all": {}"#, "[".repeat(10_000)),
            };
            r.body(&bad);
        }),
        bad_body("nested objects", |r, _| {
            r.body(&r#"{"a":"#.repeat(3000));
        }),
        bad_body("a huge string", |r, rng| {
            let len = rng.pick(&[10_000, 16_360, 16_384, 100_000, 1_000_000]);
            let text = "x".repeat(len);
            let bad = if rng.one_in(2) {
                format!(r#"{{"upload_all": "{text}"}}"#)
            } else {
                format!(r#"{{"{text}": true}}"#)
            };
            r.body(&bad);
        }),
        bad_body("a huge number", |r, rng| {
            let digits = "1".repeat(5000);
            let bad = match rng.below(3) {
                0 => r#"{"upload_all": 1e999999}"#.to_owned(),
                1 => format!(r#"{{"upload_all": {digits}}}"#),
                _ => r#"{"upload_all": -1e-99999}"#.to_owned(),
            };
            r.body(&bad);
        }),
        bad_body("a wrong type", |r, rng| {
            let bad = rng.pick(&[
                "[]",
                r#""upload_all""#,
                "true",
                "null",
                "42",
                r#"[{"upload_all": true}]"#,
                r#"{"upload_all": "true"}"#,
                r#"{"upload_all": 1}"#,
                r#"{"upload_all": null}"#,
                r#"{"upload_all": {}}"#,
                r#"{"upload_all": [true]}"#,
                r#"{"upload_all": 0}"#,
            ]);
            r.body(bad);
        }),
        bad_body("an unknown field", |r, rng| {
            let bad = rng.pick(&[
                r#"{"upload_all": true, "force": true}"#,
                r#"{"__proto__": {"upload_all": true}}"#,
                r#"{"": 1}"#,
                r#"{"upload_all\u0000": true}"#,
                r#"{"UPLOAD_ALL": true}"#,
                r#"{"upload_all ": true}"#,
                r#"{"id": "x"}"#,
            ]);
            r.body(bad);
        }),
        bad_body("NUL bytes", |r, rng| {
            let bad: &[u8] = rng.pick(&[
                &b"\0"[..],
                b"{\"upload_all\": true}\0",
                b"\0{}",
                b"{\"upload_all\": \"\0\"}",
                b"{\0}",
                b"{}\0\0\0",
            ]);
            r.body = bad.to_vec();
        }),
        bad_body("bytes that are not UTF-8", |r, rng| {
            let bad: &[u8] = rng.pick(&[
                &b"{\"upload_all\": \"\xff\"}"[..],
                b"\xff\xfe{\0}\0",
                b"\xef\xbb\xbf{}",
                b"{\"\xc3\x28\": true}",
                b"{\"upload_all\": \xc0\x80}",
                b"\x80",
                b"{}\xff",
            ]);
            r.body = bad.to_vec();
        }),
        bad_body("whitespace JSON does not know", |r, rng| {
            r.body(rng.pick(&["\u{a0}", "\u{feff}{}", "{}\u{2028}", "\u{3000}", "\x0b{}"]));
        }),
    ]
}

#[tokio::test]
async fn two_hundred_malformed_admin_requests_never_get_a_5xx_and_change_nothing() {
    let admin = Admin::new().await;
    // Something for each endpoint to change: two parked failures, synced
    // ratings and a backlog.
    admin.env.put(&admin.env.ratings(4, 2)).await;
    admin.env.engine().run(generous_deadline()).await;
    admin.env.put(&admin.env.ratings(8, 0)[4..]).await;
    let dead_ids: Vec<String> = admin
        .env
        .dead_letters()
        .await
        .iter()
        .map(|item| text(item, "id"))
        .collect();
    assert_eq!(dead_ids.len(), 2);
    assert_eq!(admin.env.pending_ids().await.len(), 4);
    let before = admin.snapshot().await;
    let requests_before = admin.env.stats().await["requests_total"].clone();

    let mutations = hostile_mutations();
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    let mut statuses = BTreeMap::<u16, usize>::new();
    const CASES: usize = 200;
    for case in 0..CASES {
        let first = &mutations[case % mutations.len()];
        let endpoint = rng.pick(first.endpoints);
        let mut request = Hostile::valid(endpoint, &dead_ids, &mut rng);
        let mut applied = vec![first];
        // One in three breaks a second part as well.
        if rng.one_in(3) {
            let others: Vec<&Mutation> = mutations
                .iter()
                .filter(|m| m.part != first.part && m.endpoints.contains(&endpoint))
                .collect();
            applied.push(rng.pick(&others));
        }
        for mutation in &applied {
            (mutation.apply)(&mut request, &mut rng);
            request.applied.push(mutation.name);
        }
        let expected = applied
            .iter()
            .min_by_key(|m| m.part.checked_at())
            .unwrap()
            .status;
        let what = format!("case {case}: {}", request.describe());
        // Shown if the handler panics.
        println!("{what}");

        let answer = admin.call_request(endpoint, request.build()).await;

        assert!(
            (400..500).contains(&answer.status),
            "{what}: {} {}",
            answer.status,
            answer.body
        );
        assert_eq!(answer.status, expected, "{what}: {}", answer.body);
        let codes: &[&str] = match answer.status {
            401 => &["UNAUTHORIZED"],
            403 => &["PERMISSION_DENIED"],
            405 => &["METHOD_NOT_ALLOWED"],
            _ => &[
                "VALIDATION_ERROR",
                "INVALID_JSON",
                "PAYLOAD_TOO_LARGE",
                "INVALID_CURSOR",
            ],
        };
        assert!(codes.contains(&answer.code()), "{what}: {}", answer.body);
        answer.assert_error(answer.status, answer.code());
        *statuses.entry(answer.status).or_default() += 1;
    }

    assert_eq!(
        statuses.keys().copied().collect::<Vec<_>>(),
        [400, 401, 403, 405],
        "every kind of refusal was seen: {statuses:?}"
    );
    assert_eq!(admin.snapshot().await, before, "nothing changed");
    assert_eq!(
        admin.env.stats().await["requests_total"],
        requests_before,
        "the marketplace heard nothing"
    );
    assert_eq!(admin.audit().await.len(), CASES, "each request is recorded");
}

#[tokio::test]
async fn a_retry_under_a_rate_ceiling_takes_its_share_of_the_ceiling_every_path_shares() {
    let admin = Admin::with(SyncSettings {
        rate_limit: Some(RateLimit {
            max: 5,
            per: Duration::from_secs(60),
        }),
        ..retry_at_once()
    })
    .await;
    let ratings = admin.env.ratings(1, 0);
    admin.env.put(&ratings).await;
    let id = &ratings[0].id;
    admin
        .env
        .configure(json!({ "fail_rate": 1.0, "fail_status": 422 }))
        .await;
    admin.env.engine().run(generous_deadline()).await;
    admin.env.configure(json!({ "fail_rate": 0.0 })).await;

    let answer = admin.call(retry_request(id)).await;

    assert_eq!(answer.status, 200, "{}", answer.body);
    assert_eq!(sync_state(&admin.env.item(id).await), SyncState::Synced);
    let grants = admin
        .env
        .client
        .get_item()
        .table_name(&admin.env.tables.sync_state)
        .key("pk", s("rate"))
        .key("sk", s("marketplace"))
        .send()
        .await
        .unwrap()
        .item
        .expect("the retry took a grant");
    assert!(!text(&grants, "grants").is_empty());
}
