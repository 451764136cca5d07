//! The Python service's rows turned into the items the functions expect,
//! built by `shared`'s own builders ([`rating_item`], [`dead_letter_item`],
//! [`conflict_item`]), never by attribute names of this crate's.
//!
//! The rules (see `docs/moving-in.md`):
//! - synced with a remote id stays synced;
//! - pending stays pending: the fast path or the next run uploads it;
//! - synced without a remote id becomes pending: the upload meets the
//!   marketplace's copy (409) and adopts it, so nothing is duplicated;
//! - stars outside 1..5 or fractional: imported and parked with the Python
//!   service's message (`Invalid rating value: 7. Must be 1-5`);
//! - the failure rows of a rating that is not synced become one dead-letter
//!   item: the highest retry count, the latest failure's message and time;
//!   the rating waits for a run, due at once, or is parked when the Python
//!   service had given up on it (`retry_count >= max_retries`).

use chrono::{DateTime, Duration, Utc};
use serde_json::Value;
use shared::conflict::{parse_time, Conflict};
use shared::rating::{cut_message, Rating};
use shared::store::{
    conflict_item, dead_letter_item, rating_item, timestamp, Disposition, Item, Standing,
    CONFLICT_RETENTION_DAYS,
};

use super::source::{SqlConflict, SqlFailure, SqlRating};

/// The longest key DynamoDB takes for a string partition key, in bytes.
const MAX_KEY_BYTES: usize = 2048;
/// A row whose text is longer than this cannot make an item of at most
/// DynamoDB's 400 KB.
const MAX_ROW_BYTES: usize = 390_000;

/// What the import brings to every row.
#[derive(Debug, Clone)]
pub struct Context {
    /// The tenant of ratings whose row has none (the early shape).
    pub tenant: String,
    /// The import's time: `synced_at` when the row has none, when parked
    /// ratings were parked and when waiting ones are due.
    pub now: DateTime<Utc>,
}

/// The failure rows of one rating, folded as they are read.
#[derive(Debug, Clone, Default)]
pub struct FailureFold {
    /// Rows folded.
    pub rows: u64,
    retry_count: u32,
    max_retries: Option<u32>,
    first: Option<DateTime<Utc>>,
    latest: Option<(DateTime<Utc>, String)>,
}

impl FailureFold {
    /// Adds one row: the highest retry count, the earliest failure and the
    /// latest one (its message).
    pub fn add(&mut self, row: &SqlFailure) {
        self.rows = self.rows.saturating_add(1);
        let count = |text: &Option<String>| text.as_deref().and_then(|t| t.trim().parse().ok());
        self.retry_count = self.retry_count.max(count(&row.retry_count).unwrap_or(0));
        if let Some(max) = count(&row.max_retries) {
            self.max_retries = Some(self.max_retries.map_or(max, |m: u32| m.max(max)));
        }
        let failed = row.failed_at.as_deref().and_then(parse_sql_time);
        let retried = row.last_retry_at.as_deref().and_then(parse_sql_time);
        if let Some(failed) = failed {
            self.first = Some(self.first.map_or(failed, |first| first.min(failed)));
        }
        if let Some(at) = retried.max(failed) {
            if self.latest.as_ref().is_none_or(|(latest, _)| at >= *latest) {
                let message = row.error_message.clone().unwrap_or_default();
                self.latest = Some((at, cut_message(message)));
            }
        } else if self.latest.is_none() {
            let message = row.error_message.clone().unwrap_or_default();
            self.latest = Some((DateTime::<Utc>::MIN_UTC, cut_message(message)));
        }
    }
}

/// How a rating is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Synced with its remote id.
    Synced,
    /// Pending, as it was.
    Pending,
    /// Marked synced without a remote id: pending now.
    PendingWithoutRemoteId,
    /// Failed before: waits for a run, due at once.
    Waiting,
    /// Parked (its reason in [`RatingPlan::parked`]).
    Parked,
}

impl Kind {
    /// How the summary names it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Synced => "ratings, synced",
            Self::Pending => "ratings, pending",
            Self::PendingWithoutRemoteId => "ratings, pending (marked synced without a remote id)",
            Self::Waiting => "ratings, waiting (failed before, due now)",
            Self::Parked => "ratings, parked",
        }
    }
}

/// One rating as it is to be written.
#[derive(Debug, Clone)]
pub struct RatingPlan {
    /// Its id.
    pub id: String,
    /// Its skill (registered for the pull when it is written synced).
    pub skill_id: String,
    /// The whole item.
    pub item: Item,
    /// Its `updated_at`, which newer-wins compares.
    pub updated_at: DateTime<Utc>,
    /// How it is written.
    pub kind: Kind,
    /// Why it is parked, if it is (the reason's kind, for the summary).
    pub parked: Option<String>,
    /// Its dead-letter item, if it has one.
    pub dead_letter: Option<Item>,
    /// Failure rows not imported, and why (a synced rating's old failures).
    pub ignored_failures: Option<(u64, &'static str)>,
}

/// Reason: failure rows of a rating that is synced since.
pub const SYNCED_SINCE: &str = "failure rows of a rating synced since (nothing to retry)";

/// The plan for one `skill_ratings` row, or why it is skipped.
pub fn plan_rating(
    row: SqlRating,
    failures: Option<FailureFold>,
    context: &Context,
) -> Result<RatingPlan, String> {
    check_key_and_size(&row)?;
    let read = read_rating(row, context)?;
    let withheld = read.withheld;
    let Read {
        mut rating,
        updated,
        synced,
        synced_at,
        ..
    } = read;
    let decision = match withheld {
        // At the marketplace already: hiding it here changes nothing there.
        Some(message) if !(synced && rating.remote_rating_id.is_some()) => parked(
            message.to_owned(),
            "Hidden or flagged in the Python service",
            failures.as_ref(),
            context,
        ),
        _ => decide(&rating, updated, synced, synced_at, failures, context),
    };
    let dead_letter = decision.failure.map(|failure| {
        rating.sync_failures = failure.count;
        failure.dead_letter(&rating, decision.disposition)
    });
    Ok(RatingPlan {
        id: rating.id.clone(),
        skill_id: rating.skill_id.clone(),
        item: rating_item(&rating, &decision.standing),
        updated_at: updated,
        kind: decision.kind,
        parked: decision.parked,
        dead_letter,
        ignored_failures: decision.ignored_failures,
    })
}

/// Skips a row whose id cannot be a key, or whose text cannot fit an item.
fn check_key_and_size(row: &SqlRating) -> Result<(), String> {
    if row.id.is_empty() || row.id.len() > MAX_KEY_BYTES {
        return Err(format!("id empty or over {MAX_KEY_BYTES} bytes"));
    }
    let size = [
        &row.review,
        &row.skill_id,
        &row.user_id,
        &row.remote_rating_id,
    ]
    .iter()
    .map(|v| v.as_deref().map_or(0, str::len))
    .sum::<usize>();
    if size > MAX_ROW_BYTES {
        return Err("row too large for a DynamoDB item (400 KB)".into());
    }
    Ok(())
}

/// A row read into the rating the Atom app would have written, and what
/// the Python service knew of its sync.
struct Read {
    rating: Rating,
    updated: DateTime<Utc>,
    /// `synced_to_saas` was true.
    synced: bool,
    synced_at: Option<String>,
    /// Why the Python service kept it from view, if it did
    /// (`is_visible` false, `is_flagged` true).
    withheld: Option<&'static str>,
}

/// The message of a rating hidden in the Python service.
pub const HIDDEN: &str =
    "Hidden in the Python service (is_visible = false): not uploaded until an admin retries it";
/// The message of a rating flagged in the Python service.
pub const FLAGGED: &str =
    "Flagged in the Python service (is_flagged = true): not uploaded until an admin retries it";

/// The rating of a row, or why the row is skipped (a field missing or
/// unreadable).
fn read_rating(row: SqlRating, context: &Context) -> Result<Read, String> {
    let nonempty = |value: Option<String>, name: &str| {
        value
            .filter(|v| !v.trim().is_empty())
            .ok_or_else(|| format!("{name} missing or empty"))
    };
    let skill_id = nonempty(row.skill_id, "skill_id")?;
    let user_id = nonempty(row.user_id, "user_id")?;
    let stars = nonempty(row.rating, "rating")?.trim().to_owned();
    if !is_number(&stars) {
        return Err("rating is not a number".into());
    }
    let created = row
        .created_at
        .as_deref()
        .and_then(parse_sql_time)
        .ok_or("created_at missing or unreadable")?;
    let updated = match row.updated_at.as_deref() {
        Some(text) => parse_sql_time(text).ok_or("updated_at unreadable")?,
        None => created,
    };
    let rating = Rating {
        id: row.id,
        tenant_id: row
            .tenant_id
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| context.tenant.clone()),
        skill_id,
        user_id,
        rating: stars,
        review: row.review,
        created_at: timestamp(created),
        updated_at: timestamp(updated),
        version: 1,
        remote_rating_id: row.remote_rating_id.filter(|id| !id.trim().is_empty()),
        sync_failures: 0,
        sync_round: 0,
    };
    let hidden = row.is_visible.as_deref().is_some_and(|v| !is_true(v));
    let flagged = row.is_flagged.as_deref().is_some_and(is_true);
    Ok(Read {
        rating,
        updated,
        synced: row.synced_to_saas.as_deref().is_some_and(is_true),
        synced_at: row.synced_at,
        withheld: (hidden.then_some(HIDDEN)).or(flagged.then_some(FLAGGED)),
    })
}

/// How a rating is written: the rules at the top of this module.
struct Decision {
    kind: Kind,
    parked: Option<String>,
    ignored_failures: Option<(u64, &'static str)>,
    standing: Standing,
    disposition: Disposition,
    failure: Option<Failure>,
}

impl Decision {
    fn new(kind: Kind, standing: Standing) -> Self {
        Self {
            kind,
            parked: None,
            ignored_failures: None,
            standing,
            disposition: Disposition::Park,
            failure: None,
        }
    }
}

/// The failure a rating's dead-letter item records.
struct Failure {
    message: String,
    retryable: bool,
    count: u32,
    first: DateTime<Utc>,
    latest: DateTime<Utc>,
}

impl Failure {
    /// Its dead-letter item; `rating` already counts its failures.
    fn dead_letter(self, rating: &Rating, disposition: Disposition) -> Item {
        let failure = rating.failure(self.message, self.retryable);
        dead_letter_item(
            &failure,
            disposition,
            self.first,
            self.latest.max(self.first),
            self.count,
        )
    }
}

/// Which rule a rating falls under: invalid stars, synced with a remote
/// id, failed before, synced without a remote id, or pending.
fn decide(
    rating: &Rating,
    updated: DateTime<Utc>,
    synced: bool,
    synced_at: Option<String>,
    failures: Option<FailureFold>,
    context: &Context,
) -> Decision {
    if let Err(invalid) = rating.stars() {
        invalid_stars(invalid, failures.as_ref(), context)
    } else if synced && rating.remote_rating_id.is_some() {
        let at = synced_at
            .as_deref()
            .and_then(parse_sql_time)
            .unwrap_or(updated);
        let mut decision = Decision::new(Kind::Synced, Standing::Synced { at });
        if let Some(f) = &failures {
            decision.ignored_failures = Some((f.rows, SYNCED_SINCE));
        }
        decision
    } else if let Some(fold) = failures.filter(|f| f.rows > 0) {
        failed_before(&fold, context)
    } else if synced {
        // Synced without a remote id: pending, so the 409 path adopts the
        // marketplace's copy.
        Decision::new(Kind::PendingWithoutRemoteId, Standing::Pending)
    } else {
        Decision::new(Kind::Pending, Standing::Pending)
    }
}

/// Stars outside 1..5 or fractional: imported, and parked with the Python
/// service's own message.
fn invalid_stars(invalid: String, failures: Option<&FailureFold>, context: &Context) -> Decision {
    parked(
        invalid,
        "Invalid rating value (outside 1..5 or fractional)",
        failures,
        context,
    )
}

/// Imported, and parked with `message`, counted in the summary under
/// `reason`: no run uploads it until an admin retries it.
fn parked(
    message: String,
    reason: &str,
    failures: Option<&FailureFold>,
    context: &Context,
) -> Decision {
    let count = failures.map_or(1, |f| f.retry_count.max(1));
    let standing = Standing::Parked {
        failures: count,
        message: message.clone(),
        at: context.now,
    };
    let first = failures.and_then(|f| f.first).unwrap_or(context.now);
    Decision {
        parked: Some(reason.into()),
        failure: Some(Failure {
            message,
            retryable: false,
            count,
            first,
            latest: context.now,
        }),
        ..Decision::new(Kind::Parked, standing)
    }
}

/// A rating with failure rows: parked if the Python service had given up
/// on it, else waiting for a run, due at once.
fn failed_before(fold: &FailureFold, context: &Context) -> Decision {
    let count = fold.retry_count.max(1);
    let (latest, message) = fold.latest.clone().unwrap_or((context.now, String::new()));
    let latest = if latest == DateTime::<Utc>::MIN_UTC {
        context.now
    } else {
        latest
    };
    let first = fold.first.unwrap_or(latest).min(latest);
    let failure = Some(Failure {
        message: message.clone(),
        retryable: true,
        count,
        first,
        latest,
    });
    let gave_up = fold.max_retries.is_some_and(|max| fold.retry_count >= max);
    if gave_up {
        let standing = Standing::Parked {
            failures: count,
            message,
            at: context.now,
        };
        Decision {
            parked: Some("failed max_retries times in the Python service".into()),
            failure,
            ..Decision::new(Kind::Parked, standing)
        }
    } else {
        let standing = Standing::Waiting {
            failures: count,
            message,
            due: context.now,
        };
        Decision {
            disposition: Disposition::RetryAt(context.now),
            failure,
            ..Decision::new(Kind::Waiting, standing)
        }
    }
}

/// The conflict log's item of one `conflict_log` row (kept
/// [`CONFLICT_RETENTION_DAYS`] days from the import), or why it is
/// skipped.
pub fn plan_conflict(row: SqlConflict, context: &Context) -> Result<Item, String> {
    let json = |text: &Option<String>| -> Value {
        text.as_deref()
            .and_then(|t| serde_json::from_str(t).ok())
            .unwrap_or(Value::Null)
    };
    let local = json(&row.local_data);
    let remote = json(&row.remote_data);
    let field = |value: &Value, names: &[&str]| -> Option<String> {
        names.iter().find_map(|name| match value.get(name)? {
            Value::String(s) if !s.is_empty() => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
    };
    let resolved_at = [&row.resolved_at, &row.created_at]
        .into_iter()
        .find_map(|t| t.as_deref().and_then(parse_sql_time))
        .ok_or("conflict with neither resolved_at nor created_at readable")?;
    let local_rating = field(&local, &["rating"])
        .filter(|r| is_number(r))
        .ok_or("conflict whose local_data has no numeric rating")?;
    let rating_id =
        field(&local, &["id", "rating_id"]).unwrap_or_else(|| format!("conflict-{}", row.id));
    let text = |v: Option<String>, default: &'static str| -> std::borrow::Cow<'static, str> {
        v.filter(|v| !v.trim().is_empty())
            .map_or(default.into(), |v| cut_message(v).into())
    };
    let conflict = Conflict {
        kind: text(row.conflict_type, Conflict::TYPE),
        severity: text(row.severity, Conflict::SEVERITY),
        strategy: text(row.resolution_strategy, "unknown"),
        rating_id,
        skill_id: row
            .skill_id
            .or_else(|| field(&local, &["skill_id"]))
            .unwrap_or_default(),
        user_id: field(&local, &["user_id"])
            .or_else(|| field(&remote, &["user_id"]))
            .unwrap_or_default(),
        remote_rating_id: field(&remote, &["id", "rating_id"]).unwrap_or_default(),
        reason: None,
        local_rating,
        local_comment: field(&local, &["review", "comment"]).map(cut_message),
        local_updated_at: field(&local, &["updated_at", "created_at"]).unwrap_or_default(),
        remote_rating: field(&remote, &["rating"]).and_then(|r| r.parse().ok()),
        remote_comment: field(&remote, &["comment", "review"]).map(cut_message),
        remote_modified_at: field(&remote, &["updated_at", "created_at", "timestamp"]),
    };
    let expires = context.now + Duration::days(CONFLICT_RETENTION_DAYS);
    Ok(conflict_item(&conflict, resolved_at, expires))
}

/// A time from SQL: text as [`parse_time`] reads it (no zone is UTC), or a
/// number of seconds since the epoch (PostgreSQL's `extract(epoch …)`,
/// SQLite's numeric times).
pub fn parse_sql_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(seconds) = text.parse::<f64>() {
        if !(0.0..=253_402_300_799.0).contains(&seconds) {
            return None;
        }
        let millis = (seconds * 1000.0).round() as i64;
        return DateTime::from_timestamp_millis(millis);
    }
    parse_time(text)
}

/// A number DynamoDB takes: finite, at most 38 significant digits.
fn is_number(text: &str) -> bool {
    let text = text.trim();
    text.len() <= 40
        && text
            .chars()
            .all(|c| c.is_ascii_digit() || matches!(c, '.' | '-' | '+' | 'e' | 'E'))
        && text.parse::<f64>().is_ok_and(f64::is_finite)
}

fn is_true(text: &str) -> bool {
    matches!(
        text.trim().to_ascii_lowercase().as_str(),
        "1" | "t" | "true" | "yes" | "y"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::store::sync_state;

    fn context() -> Context {
        Context {
            tenant: "t0".into(),
            now: parse_time("2026-12-01T00:00:00Z").unwrap(),
        }
    }

    fn sql_row(rating: &str) -> SqlRating {
        SqlRating {
            id: "r1".into(),
            skill_id: Some("s1".into()),
            user_id: Some("u1".into()),
            rating: Some(rating.into()),
            created_at: Some("2026-01-01 10:00:00".into()),
            ..SqlRating::default()
        }
    }

    #[test]
    fn sql_times_are_text_without_a_zone_as_utc_or_seconds_since_the_epoch() {
        let utc = parse_time("2026-01-01T10:00:00Z");
        assert_eq!(parse_sql_time("2026-01-01 10:00:00"), utc);
        assert_eq!(parse_sql_time("2026-01-01 11:00:00+01:00"), utc);
        assert_eq!(parse_sql_time(" 1767261600 "), utc);
        assert_eq!(
            parse_sql_time("1767261600.1234").map(timestamp).as_deref(),
            Some("2026-01-01T10:00:00.123Z")
        );
        for garbage in ["", "-1", "1e300", "NaN", "yesterday"] {
            assert_eq!(parse_sql_time(garbage), None, "{garbage:?}");
        }
    }

    #[test]
    fn a_row_that_cannot_make_an_item_is_skipped_with_its_reason() {
        let table: [(&str, SqlRating); 5] = [
            (
                "id empty",
                SqlRating {
                    id: String::new(),
                    ..sql_row("3")
                },
            ),
            (
                "skill_id missing",
                SqlRating {
                    skill_id: Some(" ".into()),
                    ..sql_row("3")
                },
            ),
            ("rating is not a number", sql_row("five")),
            ("rating is not a number", sql_row("inf")),
            (
                "created_at",
                SqlRating {
                    created_at: Some("soon".into()),
                    ..sql_row("3")
                },
            ),
        ];
        for (says, row) in table {
            let reason = plan_rating(row, None, &context()).unwrap_err();
            assert!(reason.starts_with(says), "{says}: {reason}");
        }
    }

    #[test]
    fn the_failure_rows_of_a_rating_fold_into_the_highest_count_and_the_latest_failure() {
        let mut fold = FailureFold::default();
        let row = |at: &str, retried: Option<&str>, count: &str, message: &str| SqlFailure {
            rating_id: "r1".into(),
            error_message: Some(message.into()),
            failed_at: Some(at.into()),
            last_retry_at: retried.map(str::to_owned),
            retry_count: Some(count.into()),
            max_retries: None,
        };
        fold.add(&row("2026-01-03 00:00:00", None, "1", "third"));
        fold.add(&row(
            "2026-01-01 00:00:00",
            Some("2026-01-05 00:00:00"),
            "4",
            "retried last",
        ));
        fold.add(&row("2026-01-02 00:00:00", None, "garbage", "second"));
        let plan = plan_rating(sql_row("3"), Some(fold), &context()).unwrap();
        assert_eq!(plan.kind, Kind::Waiting);
        assert_eq!(sync_state(&plan.item), shared::rating::SyncState::Waiting);
        let dead = plan.dead_letter.unwrap();
        assert_eq!(dead["error_message"].as_s().unwrap(), "retried last");
        assert_eq!(
            dead["failed_at"].as_s().unwrap(),
            "2026-01-01T00:00:00.000Z"
        );
        assert_eq!(
            dead["last_failed_at"].as_s().unwrap(),
            "2026-01-05T00:00:00.000Z"
        );
        assert_eq!(dead["retry_count"].as_n().unwrap(), "4");
    }
}
