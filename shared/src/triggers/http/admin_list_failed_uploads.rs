//! `GET /api/admin/ratings/failed-uploads?limit=&cursor=&status=`: the
//! dead-letter table, newest failure first, one page at a time.
//!
//! The table's key (the rating's id) orders nothing, so the listing reads
//! the [`FAILED_INDEX`](crate::store::FAILED_INDEX): one partition per status, sorted by the time of the
//! latest failure. With `status=retrying` or `status=dead` a page is one
//! Query of one partition. Without a filter, both partitions are read from
//! where the cursor left each of them and merged, newest first; the cursor
//! remembers a position per partition, so paging on never repeats or skips
//! an item, however the two interleave. An item whose status changes while
//! someone pages moves to the top of its new partition: it shows up in a
//! new listing, not in the pages still to come.
//!
//! `next_cursor` is set while more items follow and is signed
//! ([`CursorSigner`](super::CursorSigner)): a forged cursor, one from
//! another deployment, or one issued for another `status` is a 400.

use std::time::SystemTime;

use lambda_http::http::Method;
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::input::{json_object_body, query_parameters, shown};
use super::{serve, AdminContext, Answer, ApiError, Endpoint, Exchange, Request, Response};
use crate::store::{FailedUpload, FailureStatus, PartitionPositions};

/// The action's name in the audit trail.
pub const ACTION: &str = "list_failed_uploads";
/// Items on a page when the request gives no `limit`.
pub const DEFAULT_LIMIT: usize = 50;
/// The largest `limit` accepted; a larger one is a 400.
pub const MAX_LIMIT: usize = 100;

/// A checked request.
#[derive(Debug, Clone, PartialEq)]
struct Listing {
    limit: usize,
    status: Option<FailureStatus>,
    cursor: ListCursor,
}

/// Where a listing goes on: for each status partition, the last item
/// handed out, or that the partition is done. A partition not named starts
/// from its newest item.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
struct ListCursor {
    /// The `status` filter the cursor was issued for.
    #[serde(rename = "s")]
    status: Option<String>,
    #[serde(rename = "p")]
    positions: PartitionPositions,
}

/// A dead-letter item as the API shows it.
#[derive(Debug, Serialize)]
struct FailedUploadView<'a> {
    id: &'a str,
    rating_id: &'a str,
    tenant_id: &'a str,
    error_message: &'a str,
    failed_at: &'a str,
    retry_count: u32,
    last_retry_at: Option<&'a str>,
    last_failed_at: Option<&'a str>,
    next_retry_at: Option<&'a str>,
    status: FailureStatus,
    retryable: bool,
}

impl<'a> From<&'a FailedUpload> for FailedUploadView<'a> {
    fn from(upload: &'a FailedUpload) -> Self {
        Self {
            id: &upload.id,
            rating_id: &upload.rating_id,
            tenant_id: &upload.tenant_id,
            error_message: &upload.error_message,
            failed_at: &upload.failed_at,
            retry_count: upload.retry_count,
            last_retry_at: upload.last_retry_at.as_deref(),
            last_failed_at: upload.last_failed_at.as_deref(),
            next_retry_at: upload.next_retry_at.as_deref(),
            status: upload.status,
            retryable: upload.retryable,
        }
    }
}

/// The endpoint: the listing's parameters, then one page.
pub struct ListFailedUploads;

impl Endpoint for ListFailedUploads {
    type State = AdminContext;
    const ACTION: &'static str = ACTION;
    const METHOD: Method = Method::GET;

    async fn act(exchange: Exchange<'_, '_, AdminContext>) -> Result<Answer, ApiError> {
        let Exchange { call, request, .. } = exchange;
        let (store, cursors) = (call.store(), call.cursors());
        let scope = &store.tables().failed_uploads;
        let listing = read_listing(request, |cursor| cursors.open(scope, cursor))?;
        json_object_body(request, &[])?;
        call.note_input(json!({
            "limit": listing.limit,
            "status": listing.status,
            "cursor": listing.cursor != ListCursor::default(),
        }));
        let page = store
            .list_failed_uploads(listing.status, &listing.cursor.positions, listing.limit)
            .await?;
        let uploads = page.uploads;
        let next_cursor = page.next.map(|positions| {
            let next = ListCursor {
                status: listing.status.map(|status| status.as_str().to_owned()),
                positions,
            };
            cursors.seal(scope, &next)
        });
        let items: Vec<FailedUploadView> = uploads.iter().map(Into::into).collect();
        let more = if next_cursor.is_some() {
            ", more follow"
        } else {
            ""
        };
        Ok(Answer {
            result: format!("listed {} failed uploads{more}", items.len()),
            body: json!({
                "success": true,
                "items": items,
                "count": items.len(),
                "limit": listing.limit,
                "status": listing.status,
                "next_cursor": next_cursor,
            }),
        })
    }
}

/// Answers one listing request.
pub async fn handle(context: &AdminContext, request: Request) -> Response {
    serve::<ListFailedUploads>(context, request, SystemTime::now()).await
}

/// The request's parameters, checked; `open` opens a cursor.
fn read_listing(
    request: &Request,
    open: impl Fn(&str) -> Result<ListCursor, super::CursorError>,
) -> Result<Listing, ApiError> {
    let parameters = query_parameters(request, &["limit", "cursor", "status"])?;
    let limit = match parameters.get("limit") {
        None => DEFAULT_LIMIT,
        Some(text) => text
            .parse::<usize>()
            .ok()
            .filter(|limit| (1..=MAX_LIMIT).contains(limit))
            .ok_or_else(|| {
                ApiError::invalid(
                    "limit",
                    format!(
                        "limit must be a whole number from 1 to {MAX_LIMIT}, not {}",
                        shown(text)
                    ),
                )
            })?,
    };
    let status = match parameters.get("status") {
        None => None,
        Some(text) => Some(FailureStatus::parse(text).ok_or_else(|| {
            ApiError::invalid(
                "status",
                format!("status must be retrying or dead, not {}", shown(text)),
            )
        })?),
    };
    let cursor = match parameters.get("cursor") {
        None => ListCursor::default(),
        Some(text) => {
            let cursor = open(text).map_err(|error| ApiError::BadRequest {
                code: "INVALID_CURSOR",
                message: format!("{error}; start again without a cursor"),
                details: json!({ "field": "cursor" }),
            })?;
            if cursor.status.as_deref() != status.map(FailureStatus::as_str) {
                let issued_for = cursor.status.as_deref().map_or_else(
                    || "a listing without a status filter".to_owned(),
                    |status| format!("status={status}"),
                );
                return Err(ApiError::BadRequest {
                    code: "INVALID_CURSOR",
                    message: format!(
                        "the cursor was issued for {issued_for}; page on with the same filter"
                    ),
                    details: json!({ "field": "cursor" }),
                });
            }
            cursor
        }
    };
    Ok(Listing {
        limit,
        status,
        cursor,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{FailurePosition, PartitionPosition, DEAD, RETRYING};
    use lambda_http::Body;

    fn request(query: &str) -> Request {
        let mut request = Request::new(Body::Empty);
        *request.uri_mut() = format!("/api/admin/ratings/failed-uploads{query}")
            .parse()
            .unwrap();
        request
    }

    fn no_cursor(_: &str) -> Result<ListCursor, super::super::CursorError> {
        panic!("no cursor expected")
    }

    #[test]
    fn the_limit_defaults_to_50_and_stays_within_1_to_100() {
        assert_eq!(read_listing(&request(""), no_cursor).unwrap().limit, 50);
        assert_eq!(
            read_listing(&request("?limit=1"), no_cursor).unwrap().limit,
            1
        );
        assert_eq!(
            read_listing(&request("?limit=100"), no_cursor)
                .unwrap()
                .limit,
            100
        );
        for bad in [
            "0",
            "101",
            "-1",
            "ten",
            "",
            "5.0",
            "99999999999999999999999",
        ] {
            let error = read_listing(&request(&format!("?limit={bad}")), no_cursor).unwrap_err();
            assert_eq!(error.code(), "VALIDATION_ERROR", "{bad}");
            assert!(error.to_string().contains("limit must be"), "{error}");
        }
    }

    #[test]
    fn the_status_filter_is_retrying_or_dead() {
        let listing = read_listing(&request("?status=dead"), no_cursor).unwrap();
        assert_eq!(listing.status, Some(FailureStatus::Dead));
        let error = read_listing(&request("?status=parked"), no_cursor).unwrap_err();
        assert!(error.to_string().contains("retrying or dead"), "{error}");
    }

    #[test]
    fn a_cursor_must_come_back_with_the_filter_it_was_issued_for() {
        let issued_for_dead = |_: &str| {
            Ok(ListCursor {
                status: Some(DEAD.into()),
                positions: PartitionPositions::new(),
            })
        };
        assert!(read_listing(&request("?status=dead&cursor=x"), issued_for_dead).is_ok());
        for query in ["?cursor=x", "?status=retrying&cursor=x"] {
            let error = read_listing(&request(query), issued_for_dead).unwrap_err();
            assert_eq!(error.code(), "INVALID_CURSOR");
            assert!(error.to_string().contains("status=dead"), "{error}");
        }
    }

    #[test]
    fn the_cursor_payload_is_small_and_round_trips() {
        let cursor = ListCursor {
            status: None,
            positions: PartitionPositions::from([
                (
                    RETRYING.to_owned(),
                    PartitionPosition::After(FailurePosition {
                        id: "r".repeat(256),
                        last_failed_at: "2026-11-29T09:00:00.000Z".into(),
                    }),
                ),
                (DEAD.to_owned(), PartitionPosition::Done),
            ]),
        };
        let signer = super::super::CursorSigner::new(&crate::secrets::Secret::new("k")).unwrap();
        let sealed = signer.seal("t", &cursor);
        assert!(sealed.len() < super::super::cursor::MAX_CURSOR_CHARS);
        assert_eq!(signer.open::<ListCursor>("t", &sealed).unwrap(), cursor);
    }
}
