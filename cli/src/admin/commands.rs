//! The four admin subcommands: each one call (`failed --all` one per page),
//! shown as tables or as one JSON document.

use std::collections::HashSet;

use clap::{Args, ValueEnum};
use reqwest::Method;
use serde_json::{json, Value};

use super::{AdminClient, ApiArgs};
use crate::output::{cell, clean, print_json, CliError, Table, MAX_CELL_CHARS};

const SYNC: [&str; 4] = ["api", "admin", "sync", "ratings"];
const STATUS: [&str; 5] = ["api", "admin", "sync", "ratings", "status"];
const FAILED: [&str; 4] = ["api", "admin", "ratings", "failed-uploads"];
/// `failed --all` reads at most this many failures (about 50 MB held);
/// beyond, it stops and says how to page by hand. A cursor that comes back
/// is an error, not a loop.
pub const MAX_ALL_ITEMS: usize = 100_000;

/// `sync [--upload-all]`.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Put every rating back in the backlog first (a full re-push); call again
    /// until the answer says the pass finished.
    #[arg(long)]
    pub upload_all: bool,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// Which failures `failed` lists.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum StatusFilter {
    /// Waiting for a later attempt.
    Retrying,
    /// Parked: no more automatic attempts.
    Dead,
}

/// `failed [--status retrying|dead] [--all] [--limit N] [--cursor C]`.
#[derive(Debug, Args)]
pub struct FailedArgs {
    /// Only the failures of this status.
    #[arg(long, value_enum)]
    pub status: Option<StatusFilter>,
    /// Every page, following the cursors, not just the first.
    #[arg(long, conflicts_with = "cursor")]
    pub all: bool,
    /// Items per page, 1 to 100.
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub limit: Option<u16>,
    /// Go on from a page's next_cursor.
    #[arg(long)]
    pub cursor: Option<String>,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// `retry <rating-id>`.
#[derive(Debug, Args)]
pub struct RetryArgs {
    /// The rating's id (the failed upload's, as `failed` lists it).
    pub rating_id: String,
    #[command(flatten)]
    pub api: ApiArgs,
}

/// `status`: where the sync stands.
pub async fn status(args: ApiArgs, json: bool, stack: Option<&str>) -> Result<(), CliError> {
    let client = AdminClient::new(&args, stack).await?;
    let answer = client.call(Method::GET, &STATUS, &[], None).await?;
    if json {
        print_json(&answer);
        return Ok(());
    }
    // The header row of this two-column list is blank.
    print!("{}", standing(&answer).render().trim_start_matches('\n'));
    print_recent_runs(&answer);
    Ok(())
}

/// Where the sync stands, a line a topic: backlog, failures, conflicts,
/// lease, last success, a re-push under way, when it was checked.
fn standing(answer: &Value) -> Table {
    let n = |name: &str| cell(&answer[name]);
    let mut out = Table::new(&["", ""]);
    out.row(vec![
        "backlog".into(),
        format!(
            "{} pending ({} waiting for a retry)",
            n("pending_count"),
            n("waiting_count")
        ),
    ]);
    out.row(vec![
        "failures".into(),
        format!(
            "{} in the dead-letter table ({} parked)",
            n("failed_count"),
            n("parked_count")
        ),
    ]);
    out.row(vec!["conflicts".into(), n("conflict_count")]);
    out.row(vec!["lease".into(), lease(&answer["lease"])]);
    out.row(vec![
        "last success".into(),
        format!(
            "{} ({} scheduled runs failed since)",
            n("last_success_at"),
            n("consecutive_failed_runs")
        ),
    ]);
    if let Some(pass) = answer["requeue_pass"].as_object() {
        out.row(vec![
            "re-push".into(),
            format!(
                "under way: {} requeued since {}",
                pass.get("requeued").map(cell).unwrap_or_default(),
                pass.get("started_at").map(cell).unwrap_or_default()
            ),
        ]);
    }
    out.row(vec!["checked at".into(), n("checked_at")]);
    out
}

/// The run lease: who holds it until when, or free.
fn lease(lease: &Value) -> String {
    if lease["held"] == json!(true) {
        format!(
            "held by {} until {}",
            cell(&lease["holder"]),
            cell(&lease["until"])
        )
    } else {
        "free".into()
    }
}

/// The recent runs, a row each, or that there are none yet.
fn print_recent_runs(answer: &Value) {
    let runs = answer["recent_runs"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    if runs.is_empty() {
        println!("\nno runs yet");
        return;
    }
    let mut table = Table::new(&[
        "STARTED", "RESULT", "UPLOADED", "FAILED", "PARKED", "SKIPPED", "PENDING", "MS", "MESSAGE",
    ]);
    for run in &runs {
        let result = if run["success"] == json!(true) {
            "ok"
        } else {
            "failed"
        };
        table.row(vec![
            cell(&run["started_at"]),
            result.into(),
            cell(&run["uploaded"]),
            cell(&run["failed"]),
            cell(&run["parked"]),
            cell(&run["skipped"]),
            cell(&run["pending_count"]),
            cell(&run["duration_ms"]),
            cell(&run["message"]),
        ]);
    }
    print!("\nrecent runs\n{}", table.render());
}

/// `sync`: one run now.
pub async fn sync(args: SyncArgs, json: bool, stack: Option<&str>) -> Result<(), CliError> {
    let client = AdminClient::new(&args.api, stack).await?;
    let body = json!({ "upload_all": args.upload_all });
    let answer = client.call(Method::POST, &SYNC, &[], Some(&body)).await?;
    if json {
        print_json(&answer);
    } else {
        println!(
            "run {}: uploaded {}, failed {}, skipped {}; backlog left {}",
            cell(&answer["run_id"]),
            cell(&answer["uploaded"]),
            cell(&answer["failed"]),
            cell(&answer["skipped"]),
            cell(&answer["pending_count"])
        );
        println!("{}", cell(&answer["message"]));
        if let Some(requeue) = answer["requeue"].as_object() {
            let finished = requeue.get("finished") == Some(&json!(true));
            println!(
                "re-push: {} put back now, {} in this pass; {}",
                requeue.get("requeued").map(cell).unwrap_or_default(),
                requeue.get("pass_requeued").map(cell).unwrap_or_default(),
                if finished {
                    "the pass reached the end of the table"
                } else {
                    "not finished: run `atom-rating-sync sync --upload-all` again"
                }
            );
        }
    }
    not_synced_unless_success(&answer, "the sync did not succeed")
}

/// `retry`: one failed rating uploaded now.
pub async fn retry(args: RetryArgs, json: bool, stack: Option<&str>) -> Result<(), CliError> {
    let client = AdminClient::new(&args.api, stack).await?;
    let mut segments = FAILED.to_vec();
    segments.extend([args.rating_id.as_str(), "retry"]);
    let answer = client.call(Method::POST, &segments, &[], None).await?;
    if json {
        print_json(&answer);
    } else {
        println!("{}", cell(&answer["message"]));
    }
    not_synced_unless_success(&answer, "the rating was not uploaded")
}

/// Exit code 7 when the API did the call and it did not succeed; the
/// output already shows why.
fn not_synced_unless_success(answer: &Value, reason: &str) -> Result<(), CliError> {
    if answer["success"] == json!(true) {
        return Ok(());
    }
    let message = answer["message"].as_str().map(|m| clean(m, MAX_CELL_CHARS));
    Err(CliError::NotSynced(match message {
        Some(message) => format!("{reason}: {message}"),
        None => reason.to_owned(),
    }))
}

/// `failed`: one page, or every page with `--all`.
pub async fn failed(args: FailedArgs, json: bool, stack: Option<&str>) -> Result<(), CliError> {
    let client = AdminClient::new(&args.api, stack).await?;
    let mut query = Vec::new();
    if let Some(limit) = args.limit {
        query.push(("limit", limit.to_string()));
    }
    if let Some(status) = args.status {
        let status = match status {
            StatusFilter::Retrying => "retrying",
            StatusFilter::Dead => "dead",
        };
        query.push(("status", status.to_owned()));
    }
    let mut cursor = args.cursor.clone();
    let mut seen = HashSet::new();
    let mut items: Vec<Value> = Vec::new();
    let mut pages = 0usize;
    let next = loop {
        let mut page_query = query.clone();
        if let Some(cursor) = &cursor {
            page_query.push(("cursor", cursor.clone()));
        }
        let page = client.call(Method::GET, &FAILED, &page_query, None).await?;
        pages += 1;
        items.extend(page["items"].as_array().cloned().unwrap_or_default());
        let next = page["next_cursor"].as_str().map(str::to_owned);
        match next {
            Some(next) if args.all => {
                if !seen.insert(next.clone()) {
                    return Err(CliError::Unreachable(
                        "the API handed back a cursor it had already given; stopped".into(),
                    ));
                }
                if items.len() >= MAX_ALL_ITEMS {
                    return Err(CliError::Input(format!(
                        "more than {MAX_ALL_ITEMS} failures: narrow with --status, or page with \
                         --json --limit 100 and --cursor (each page's next_cursor)"
                    )));
                }
                cursor = Some(next);
            }
            next => break next,
        }
    };
    if json {
        print_json(&json!({
            "success": true,
            "count": items.len(),
            "pages": pages,
            "items": items,
            "next_cursor": next,
        }));
        return Ok(());
    }
    print_failures(&items);
    if let Some(next) = next {
        println!(
            "more follow: --all for every page, or --cursor {}",
            clean(&next, 4096)
        );
    }
    Ok(())
}

/// The failures as one table, columns aligned across every page read.
fn print_failures(items: &[Value]) {
    if items.is_empty() {
        println!("no failed uploads");
        return;
    }
    let mut table = Table::new(&[
        "RATING ID",
        "STATUS",
        "RETRIES",
        "LAST FAILED",
        "NEXT RETRY",
        "ERROR",
    ]);
    for item in items {
        table.row(vec![
            cell(&item["rating_id"]),
            cell(&item["status"]),
            cell(&item["retry_count"]),
            cell(&item["last_failed_at"]),
            cell(&item["next_retry_at"]),
            cell(&item["error_message"]),
        ]);
    }
    print!("{}", table.render());
}
