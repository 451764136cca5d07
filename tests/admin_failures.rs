//! The listing of failed uploads (`GET /api/admin/ratings/failed-uploads`):
//! paging through 250 failures by every page size and status, each once and
//! newest first; what a listed failure shows; a cursor altered or reused with
//! another filter.
//!
//! Every answer is also written to `target/admin-api-responses/` (or
//! `$ADMIN_API_RESPONSES_DIR`), where `tests/checks/test_openapi.py` checks each one
//! against `openapi.yaml`.

use std::collections::{BTreeMap, BTreeSet};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine as _;
use integration_tests::admin::*;
use integration_tests::*;
use local_stack::seed;
use serde_json::{json, Value};
use shared::store::{timestamp, Item, DEAD, RETRYING};

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
