//! The admin API's answer to bad input, endpoint by endpoint: a table of
//! requests (malformed JSON, wrong types, unknown fields and parameters, ids
//! of the wrong form, limits out of range, a body over 16 KiB, forged,
//! foreign and other-table cursors, wrong methods), each a 400 (or 405) that
//! names the problem, with every table unchanged and each request audited.
//! The 200 requests drawn at random are `admin_hostile.rs`.
//!
//! Every answer is also written to `target/admin-api-responses/` (or
//! `$ADMIN_API_RESPONSES_DIR`), where `tests/checks/test_openapi.py` checks each one
//! against `openapi.yaml`.

use integration_tests::admin::*;
use integration_tests::*;
use lambda_http::http::Method;
use serde_json::json;
use shared::config::Secret;
use shared::triggers::http::{CursorSigner, MAX_BODY_BYTES};

#[tokio::test]
async fn bad_input_is_a_400_that_names_the_problem_and_changes_nothing() {
    let admin = Admin::new().await;
    admin.env.put(&admin.env.ratings(3, 1)).await;
    admin.env.engine().run(generous_deadline()).await;
    admin.env.put(&admin.env.ratings(6, 0)[3..]).await;
    let dead = text(&admin.env.dead_letters().await[0], "id");
    let before = admin.snapshot().await;
    let requests_before = admin.env.stats().await["requests_total"].clone();

    let cases = bad_requests(&dead, &admin.env.tables.failed_uploads);
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

/// The bad requests, without a token, each with the status, the error code
/// and words of the message it must be answered with. `dead` is a parked
/// failure's id (a retry that would otherwise be carried out), and
/// `failed_uploads_table` the table the listing's cursors are issued for.
fn bad_requests(
    dead: &str,
    failed_uploads_table: &str,
) -> Vec<(Req, u16, &'static str, &'static str)> {
    let big = format!(
        r#"{{"upload_all": true, "pad": "{}"}}"#,
        "x".repeat(MAX_BODY_BYTES)
    );
    let retry_of = |id: &str| format!("/api/admin/ratings/failed-uploads/{id}/retry");
    let list = |query: &str| format!("/api/admin/ratings/failed-uploads?{query}");
    let foreign_cursor = CursorSigner::new(&Secret::new("another-deployment-secret-0123456789"))
        .unwrap()
        .seal(failed_uploads_table, &json!({ "s": null, "p": {} }));
    let other_table_cursor = CursorSigner::new(&Secret::new(SECRET))
        .unwrap()
        .seal("another_table", &json!({ "s": null, "p": {} }));
    let long_id = "r".repeat(257);

    vec![
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
            Req::new(Endpoint::Retry, &retry_of(dead)).body(r#"{"force": true}"#),
            400,
            "VALIDATION_ERROR",
            "unknown field \"force\"",
        ),
        (
            Req::new(Endpoint::Retry, &retry_of(dead)).body("{"),
            400,
            "INVALID_JSON",
            "not valid JSON",
        ),
        (
            Req::new(Endpoint::Retry, &retry_of(dead)).body(&big),
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
            Req::new(Endpoint::Retry, &format!("{}?force=1", retry_of(dead))),
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
    ]
}
