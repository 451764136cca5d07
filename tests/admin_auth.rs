//! The admin API: who may call (the 401 and 403 matrices on every endpoint,
//! and the autonomous agents let in), the audit trail of each call, and what
//! the handlers answer when the audit table or DynamoDB fails. The handlers
//! are called in-process with the requests API Gateway would hand the
//! functions, against the real DynamoDB server and a simulator of their own.
//!
//! Every answer is also written to `target/admin-api-responses/` (or
//! `$ADMIN_API_RESPONSES_DIR`), where `tests/checks/test_openapi.py` checks each one
//! against `openapi.yaml`.

use std::collections::HashMap;

use integration_tests::admin::*;
use integration_tests::*;
use serde_json::json;
use shared::auth::AdminPolicy;
use shared::config::{Secret, TableNames};
use shared::store::{Item, Store};
use shared::triggers::http::{
    admin_list_failed_uploads as failed_uploads, admin_retry_failed_upload as retry,
    admin_sync_status as status, AdminContext, SyncApi,
};

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
    let engine = shared::triggers::clients::sync_engine(&config, admin.env.client.clone()).unwrap();
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
