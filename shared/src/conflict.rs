//! Newest wins: how a local rating and its remote copy that disagree are
//! reconciled.
//!
//! The last modification of each side decides: the local `updated_at`
//! (else `created_at`), and the remote `updated_at`, else `created_at`, else
//! `timestamp`. Times are compared as instants, so `Z`, `+02:00` and a time
//! written with no zone at all (read as UTC) compare correctly. Equal times
//! change nothing; a remote rating with no usable time is left alone, with a
//! reason, rather than guessed at.
//!
//! A remote rating is outside data: before it is compared with anything it
//! must pass [`RemoteRating::check`] (stars 1 to 5, a comment within the
//! marketplace's limit, an id of the safe form, times that parse and are not
//! in the future beyond the allowed clock skew). One that does not is
//! skipped with its reason, and the local rating is left as it was.

use std::borrow::Cow;
use std::time::Duration;

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Serialize;

pub use crate::marketplace::{Listed, RemoteRating};
use crate::rating::{cut_message, id_problem, shorten, Rating, MAX_COMMENT_CHARS, STARS};

/// Skip reason: the remote rating says nowhere when it was modified.
pub const NO_REMOTE_TIMESTAMP: &str = "Remote rating has no timestamp";
/// Skip reason: the remote rating's time cannot be read.
pub const INVALID_REMOTE_TIMESTAMP: &str = "Invalid remote timestamp format";
/// Skip reason: the local rating's `updated_at` cannot be read.
pub const INVALID_LOCAL_TIMESTAMP: &str = "Invalid local timestamp format";

/// What to do with a pair.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Resolution {
    /// Same stars and comment: nothing to reconcile.
    InSync,
    /// Different content, but modified at the same instant: nothing changes.
    EqualTimes,
    /// The remote rating is newer: the local one takes its values.
    RemoteWins {
        /// When the remote rating was modified; the local one is written
        /// with it.
        remote_time: DateTime<Utc>,
    },
    /// The local rating is newer: it is pushed as an update.
    LocalWins,
    /// Cannot be decided; both are left as they are.
    Skip {
        /// Why, e.g. [`NO_REMOTE_TIMESTAMP`]; kept in the conflict log.
        reason: &'static str,
    },
}

/// Reads a time: RFC 3339 with `Z` or an offset, or with no zone (UTC).
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(at) = DateTime::parse_from_rfc3339(text) {
        return Some(at.with_timezone(&Utc));
    }
    ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%d %H:%M:%S%.f"]
        .iter()
        .find_map(|format| NaiveDateTime::parse_from_str(text, format).ok())
        .map(|naive| naive.and_utc())
}

impl RemoteRating {
    /// Its last modification: `updated_at`, else `created_at`, else `timestamp`.
    pub fn modified(&self) -> Result<DateTime<Utc>, &'static str> {
        let text = [&self.updated_at, &self.created_at, &self.timestamp]
            .into_iter()
            .flatten()
            .find(|t| !t.trim().is_empty())
            .ok_or(NO_REMOTE_TIMESTAMP)?;
        parse_time(text).ok_or(INVALID_REMOTE_TIMESTAMP)
    }

    /// Whether it says the same as the local rating.
    pub fn same_content(&self, local: &Rating) -> bool {
        let local_stars = local.stars().ok().map(i64::from);
        let comment = |c: &Option<String>| c.as_deref().unwrap_or_default().trim().to_owned();
        local_stars == Some(self.rating) && comment(&self.comment) == comment(&local.review)
    }
}

/// The local rating's last modification.
pub fn local_modified(local: &Rating) -> Option<DateTime<Utc>> {
    parse_time(&local.updated_at).or_else(|| parse_time(&local.created_at))
}

impl RemoteRating {
    /// Whether its values may touch local data at all, as of `now`, with
    /// `max_skew` of clock difference allowed; else the reason.
    pub fn check(&self, now: DateTime<Utc>, max_skew: Duration) -> Result<(), String> {
        if let Some(problem) = id_problem(&self.id) {
            return Err(format!("Remote rating id unusable: {problem}"));
        }
        if !(i64::from(*STARS.start())..=i64::from(*STARS.end())).contains(&self.rating) {
            return Err(format!(
                "Remote rating has {} stars; only 1 to 5 are valid",
                self.rating
            ));
        }
        let comment = self.comment.as_deref().map_or(0, |c| c.chars().count());
        if comment > MAX_COMMENT_CHARS {
            return Err(format!(
                "Remote comment has {comment} characters; the limit is {MAX_COMMENT_CHARS}"
            ));
        }
        let latest = chrono::Duration::from_std(max_skew)
            .ok()
            .and_then(|skew| now.checked_add_signed(skew))
            .unwrap_or(DateTime::<Utc>::MAX_UTC);
        for text in [&self.updated_at, &self.created_at, &self.timestamp]
            .into_iter()
            .flatten()
            .filter(|t| !t.trim().is_empty())
        {
            let at = parse_time(text).ok_or(INVALID_REMOTE_TIMESTAMP)?;
            if at > latest {
                return Err(format!(
                    "Remote timestamp {} is in the future, beyond the allowed clock skew of {}s",
                    shorten(text, 40),
                    max_skew.as_secs()
                ));
            }
        }
        self.modified().map(|_| ()).map_err(str::to_owned)
    }
}

/// Newest wins.
pub fn resolve(local: &Rating, remote: &RemoteRating) -> Resolution {
    let remote_time = match remote.modified() {
        Ok(at) => at,
        Err(reason) => return Resolution::Skip { reason },
    };
    if remote.same_content(local) {
        return Resolution::InSync;
    }
    let Some(local_time) = local_modified(local) else {
        return Resolution::Skip {
            reason: INVALID_LOCAL_TIMESTAMP,
        };
    };
    match remote_time.cmp(&local_time) {
        std::cmp::Ordering::Equal => Resolution::EqualTimes,
        std::cmp::Ordering::Greater => Resolution::RemoteWins { remote_time },
        std::cmp::Ordering::Less => Resolution::LocalWins,
    }
}

/// A resolved conflict, as the conflict log keeps it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conflict {
    /// [`Conflict::TYPE`], or [`Conflict::INVALID_REMOTE`] for a remote
    /// rating that was not taken (an imported conflict keeps the Python
    /// service's `conflict_type`).
    pub kind: Cow<'static, str>,
    /// [`Conflict::SEVERITY`] (an imported conflict keeps the Python
    /// service's `severity`).
    pub severity: Cow<'static, str>,
    /// The local rating's id.
    pub rating_id: String,
    /// The skill both ratings are for.
    pub skill_id: String,
    /// The user both ratings are by.
    pub user_id: String,
    /// Empty when the remote id itself was unusable.
    pub remote_rating_id: String,
    /// `remote_wins`, `local_wins` or `skipped` (an imported conflict
    /// keeps the Python service's `resolution_strategy`).
    pub strategy: Cow<'static, str>,
    /// Why a remote rating was skipped.
    pub reason: Option<String>,
    /// The local stars, as text, as the ratings table holds them.
    pub local_rating: String,
    /// The local review.
    pub local_comment: Option<String>,
    /// When the local rating was last modified.
    pub local_updated_at: String,
    /// `None` for a skipped remote rating: its values are not kept.
    pub remote_rating: Option<i64>,
    /// The remote comment; `None` for a skipped remote rating.
    pub remote_comment: Option<String>,
    /// The remote time that was compared: `updated_at`, else `created_at`,
    /// else `timestamp`; `None` for a skipped remote rating.
    pub remote_modified_at: Option<String>,
}

impl Conflict {
    /// The kind of a conflict between two valid ratings that differ.
    pub const TYPE: &'static str = "CONTENT_MISMATCH";
    /// A remote rating that failed [`RemoteRating::check`].
    pub const INVALID_REMOTE: &'static str = "INVALID_REMOTE";
    /// The severity every conflict is logged with: each is resolved
    /// without anyone's help.
    pub const SEVERITY: &'static str = "LOW";
    /// Who resolved the conflict: always the sync, never a person.
    pub const RESOLVED_BY: &'static str = "system";

    /// A remote rating that was not taken, and why (cut to
    /// [`MAX_MESSAGE_CHARS`](crate::rating::MAX_MESSAGE_CHARS)): none of its
    /// values are kept (they may be anything), only its id if that is of
    /// the safe form.
    pub fn skipped(local: &Rating, remote_id: Option<&str>, reason: &str) -> Self {
        Self {
            kind: Self::INVALID_REMOTE.into(),
            severity: Self::SEVERITY.into(),
            rating_id: local.id.clone(),
            skill_id: local.skill_id.clone(),
            user_id: local.user_id.clone(),
            remote_rating_id: remote_id
                .filter(|id| id_problem(id).is_none())
                .unwrap_or_default()
                .to_owned(),
            strategy: SKIPPED.into(),
            reason: Some(cut_message(reason)),
            local_rating: local.rating.clone(),
            local_comment: local.review.clone(),
            local_updated_at: local.updated_at.clone(),
            remote_rating: None,
            remote_comment: None,
            remote_modified_at: None,
        }
    }

    /// A conflict between `local` and a valid `remote`, resolved by
    /// `strategy` ([`REMOTE_WINS`] or [`LOCAL_WINS`]).
    pub fn new(local: &Rating, remote: &RemoteRating, strategy: &'static str) -> Self {
        Self {
            kind: Self::TYPE.into(),
            severity: Self::SEVERITY.into(),
            rating_id: local.id.clone(),
            skill_id: local.skill_id.clone(),
            user_id: local.user_id.clone(),
            remote_rating_id: remote.id.clone(),
            strategy: strategy.into(),
            reason: None,
            local_rating: local.rating.clone(),
            local_comment: local.review.clone(),
            local_updated_at: local.updated_at.clone(),
            remote_rating: Some(remote.rating),
            remote_comment: remote.comment.clone(),
            remote_modified_at: remote
                .updated_at
                .clone()
                .or_else(|| remote.created_at.clone())
                .or_else(|| remote.timestamp.clone()),
        }
    }
}

/// Strategy: the remote rating was newer and the local one took its
/// values.
pub const REMOTE_WINS: &str = "remote_wins";
/// Strategy: the local rating was newer and was pushed as an update.
pub const LOCAL_WINS: &str = "local_wins";
/// A remote rating that failed its checks: nothing was changed.
pub const SKIPPED: &str = "skipped";

#[cfg(test)]
mod tests {
    use super::*;

    fn local(stars: &str, review: Option<&str>, updated_at: &str) -> Rating {
        Rating {
            id: "r1".into(),
            tenant_id: "t".into(),
            skill_id: "s".into(),
            user_id: "u".into(),
            rating: stars.into(),
            review: review.map(str::to_owned),
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: updated_at.into(),
            version: 1,
            remote_rating_id: Some("rr-1".into()),
            sync_failures: 0,
            sync_round: 0,
        }
    }

    fn remote(stars: i64, comment: Option<&str>, updated_at: Option<&str>) -> RemoteRating {
        RemoteRating {
            id: "rr-1".into(),
            user_id: "u".into(),
            rating: stars,
            comment: comment.map(str::to_owned),
            created_at: None,
            updated_at: updated_at.map(str::to_owned),
            timestamp: None,
        }
    }

    #[test]
    fn times_with_z_an_offset_or_no_zone_are_the_same_instants() {
        let utc = parse_time("2026-03-01T10:00:00Z").unwrap();
        assert_eq!(parse_time("2026-03-01T12:00:00+02:00"), Some(utc));
        assert_eq!(parse_time("2026-03-01T05:00:00-05:00"), Some(utc));
        assert_eq!(
            parse_time("2026-03-01T10:00:00"),
            Some(utc),
            "no zone is UTC"
        );
        assert_eq!(parse_time("2026-03-01 10:00:00"), Some(utc));
        assert_eq!(
            parse_time("2026-03-01T10:00:00.250Z").unwrap() - utc,
            chrono::Duration::milliseconds(250)
        );
        for garbage in ["", "yesterday", "2026-13-01T00:00:00Z", "1700000000"] {
            assert_eq!(parse_time(garbage), None, "{garbage:?}");
        }
    }

    #[test]
    fn the_newer_side_wins_whatever_the_zones() {
        let mine = local("3", Some("ok"), "2026-03-01T10:00:00Z");
        // 11:30+02:00 is 09:30Z: older, although its digits are larger.
        let older = remote(
            5,
            Some("Updated comment"),
            Some("2026-03-01T11:30:00+02:00"),
        );
        assert_eq!(resolve(&mine, &older), Resolution::LocalWins);
        let newer = remote(5, Some("Updated comment"), Some("2026-03-01T11:00:00"));
        assert!(matches!(
            resolve(&mine, &newer),
            Resolution::RemoteWins { .. }
        ));
        let same_instant = remote(5, None, Some("2026-03-01T12:00:00+02:00"));
        assert_eq!(resolve(&mine, &same_instant), Resolution::EqualTimes);
    }

    #[test]
    fn equal_content_is_in_sync_whatever_the_times() {
        let mine = local("4", Some(" fine "), "2026-03-01T10:00:00Z");
        let theirs = remote(4, Some("fine"), Some("2027-01-01T00:00:00Z"));
        assert_eq!(resolve(&mine, &theirs), Resolution::InSync);
        let no_comment = local("4", None, "2026-03-01T10:00:00Z");
        assert_eq!(
            resolve(
                &no_comment,
                &remote(4, Some(""), Some("2020-01-01T00:00:00Z"))
            ),
            Resolution::InSync
        );
    }

    #[test]
    fn the_remote_time_falls_back_from_updated_to_created_to_timestamp() {
        let mut theirs = remote(5, None, None);
        assert_eq!(theirs.modified(), Err(NO_REMOTE_TIMESTAMP));
        theirs.timestamp = Some("2026-01-01T00:00:00Z".into());
        assert_eq!(
            theirs.modified(),
            parse_time("2026-01-01T00:00:00Z").ok_or("")
        );
        theirs.created_at = Some("2026-02-01T00:00:00Z".into());
        assert_eq!(
            theirs.modified(),
            parse_time("2026-02-01T00:00:00Z").ok_or("")
        );
        theirs.updated_at = Some("not a time".into());
        assert_eq!(theirs.modified(), Err(INVALID_REMOTE_TIMESTAMP));
    }

    #[test]
    fn an_undecidable_pair_is_skipped_with_its_reason() {
        let mine = local("3", None, "2026-03-01T10:00:00Z");
        assert_eq!(
            resolve(&mine, &remote(5, None, None)),
            Resolution::Skip {
                reason: NO_REMOTE_TIMESTAMP
            }
        );
        assert_eq!(
            resolve(&mine, &remote(5, None, Some("03/01/2026"))),
            Resolution::Skip {
                reason: INVALID_REMOTE_TIMESTAMP
            }
        );
    }

    #[test]
    fn a_remote_rating_is_checked_before_it_is_compared() {
        let now = parse_time("2026-12-01T12:00:00Z").unwrap();
        let skew = Duration::from_secs(300);
        let good = remote(4, Some("fine"), Some("2026-12-01T12:04:59Z"));
        assert_eq!(good.check(now, skew), Ok(()));
        let with = |change: &Change| {
            let mut remote = good.clone();
            change(&mut remote);
            remote.check(now, skew).unwrap_err()
        };
        // (what is wrong, what the reason says)
        type Change = dyn Fn(&mut RemoteRating);
        let table: [(&Change, &str); 11] = [
            (&|r| r.rating = 99, "99 stars"),
            (&|r| r.rating = 0, "0 stars"),
            (&|r| r.rating = -3, "-3 stars"),
            (&|r| r.comment = Some("x".repeat(1001)), "1001 characters"),
            (&|r| r.id = "../x".into(), "not '/'"),
            (&|r| r.id = "..".into(), "dots alone"),
            (&|r| r.id = String::new(), "it has 0"),
            (
                &|r| r.updated_at = Some("9999-12-31T23:59:59Z".into()),
                "in the future",
            ),
            (
                &|r| r.updated_at = Some("2026-12-01T12:05:01Z".into()),
                "in the future",
            ),
            (
                &|r| r.created_at = Some("yesterday".into()),
                INVALID_REMOTE_TIMESTAMP,
            ),
            (&|r| r.updated_at = None, NO_REMOTE_TIMESTAMP),
        ];
        for (change, says) in table {
            let reason = with(change);
            assert!(reason.contains(says), "{reason} lacks {says}");
        }
        let mut at_limit = good.clone();
        at_limit.comment = Some("é".repeat(1000));
        assert_eq!(at_limit.check(now, skew), Ok(()), "characters, not bytes");
    }

    #[test]
    fn each_listed_rating_is_decoded_on_its_own() {
        let listed: Vec<Listed> = serde_json::from_str::<Vec<serde_json::Value>>(
            r#"[{"id": "rr-1", "user_id": "u1", "rating": 4.5, "updated_at": "2026-01-01T00:00:00Z"},
                {"id": "rr-2", "user_id": "u2", "rating": 4, "updated_at": "2026-01-01T00:00:00Z"},
                {"id": {}, "user_id": "u3", "rating": 4},
                {"id": "rr-4", "user_id": 7, "rating": 4}]"#,
        )
        .unwrap()
        .into_iter()
        .map(Listed::decode)
        .collect();
        assert_eq!(listed[0].user_id.as_deref(), Some("u1"));
        assert!(listed[0]
            .rating
            .as_ref()
            .unwrap_err()
            .contains("wrong shape"));
        assert_eq!(listed[1].rating.as_ref().unwrap().id, "rr-2");
        assert!(listed[2].rating.is_err());
        assert_eq!(
            listed[3].user_id, None,
            "a user id that is no string matches no one"
        );
    }

    #[test]
    fn a_skipped_remote_keeps_none_of_its_values() {
        let mine = local("3", None, "2026-03-01T10:00:00Z");
        let skipped = Conflict::skipped(&mine, Some("../x"), "Remote rating has 99 stars");
        assert_eq!(skipped.remote_rating_id, "");
        assert_eq!(skipped.remote_rating, None);
        assert_eq!(skipped.strategy, SKIPPED);
        assert_eq!(
            Conflict::skipped(&mine, Some("rr-9"), "r").remote_rating_id,
            "rr-9"
        );
    }

    #[test]
    fn remote_ratings_parse_leniently() {
        let parsed: RemoteRating = serde_json::from_str(
            r#"{"id": 17, "user_id": "u", "rating": 4, "timestamp": "2026-01-01T00:00:00"}"#,
        )
        .unwrap();
        assert_eq!(parsed.id, "17");
        assert_eq!(parsed.comment, None);
        assert!(parsed.modified().is_ok());
    }
}
