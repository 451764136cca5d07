//! A skill rating as the Atom app writes it, and the rules it must meet
//! before it may leave this instance.
//!
//! The store turns DynamoDB items into [`Rating`]s; an item that cannot be
//! read as one becomes a [`MalformedRating`] instead of an error, so that a
//! single bad row goes to the dead-letter table with its reason and never
//! stops the rest of the backlog.

/// The lowest and highest number of stars the marketplace accepts.
pub const STARS: std::ops::RangeInclusive<u8> = 1..=5;

/// The longest comment the marketplace accepts (its documented limit), in
/// characters. A longer local review is parked, never sent; a longer remote
/// comment is never taken.
pub const MAX_COMMENT_CHARS: usize = 1000;

/// The longest id accepted anywhere: a rating's, a remote rating's, the
/// admin API's path parameter.
pub const MAX_ID_CHARS: usize = 256;

/// Why `id` is not of the one safe form every id here has: 1 to
/// [`MAX_ID_CHARS`] characters, each a letter, a digit or one of `. _ : -`,
/// and not dots alone. Such an id is one path segment and one key, never a
/// path (`../x`) or a segment that URL handling drops (`..`).
pub fn id_problem(id: &str) -> Option<String> {
    let length = id.chars().count();
    if length == 0 || length > MAX_ID_CHARS {
        return Some(format!(
            "the id must have 1 to {MAX_ID_CHARS} characters, it has {length}"
        ));
    }
    if let Some(bad) = id
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')))
    {
        return Some(format!(
            "the id {} may contain only letters, digits and . _ : -, not {bad:?}",
            quoted(id)
        ));
    }
    if id.chars().all(|c| c == '.') {
        return Some(format!("the id {} is dots alone", quoted(id)));
    }
    None
}

/// The longest user id sent, in characters (an e-mail address has at most
/// 254).
pub const MAX_USER_ID_CHARS: usize = 256;

/// Why `id` cannot be sent as a user id. A user id travels only in a JSON
/// body, where any character is escaped, and real ones may be e-mail
/// addresses (`@`, `+`, letters of any script), so the check is looser than
/// [`id_problem`]: 1 to [`MAX_USER_ID_CHARS`] characters, no control
/// character, not `.` or `..`.
pub fn user_id_problem(id: &str) -> Option<String> {
    let length = id.chars().count();
    if length == 0 || length > MAX_USER_ID_CHARS {
        return Some(format!(
            "the user id must have 1 to {MAX_USER_ID_CHARS} characters, it has {length}"
        ));
    }
    if let Some(bad) = id.chars().find(|c| c.is_control()) {
        return Some(format!(
            "the user id {} contains the control character {bad:?}",
            quoted(id)
        ));
    }
    if id == "." || id == ".." {
        return Some(format!("the user id {} is dots alone", quoted(id)));
    }
    None
}

/// The longest failure message written anywhere (the rating's
/// `last_sync_error`, the dead-letter item, events, reports, API answers),
/// in characters. A message may quote what was read (a 250 KB attribute),
/// and an item that cannot be written would be retried forever.
pub const MAX_MESSAGE_CHARS: usize = 1000;

/// `message` cut to [`MAX_MESSAGE_CHARS`] characters, its last one `…`, if
/// it is longer; as it is otherwise. Every failure message passes here
/// before it is written or sent.
pub fn cut_message(message: impl Into<String>) -> String {
    cut_to(message.into(), MAX_MESSAGE_CHARS)
}

/// `text` cut to `max` characters, its last one `…`, if it is longer.
pub fn cut_to(mut text: String, max: usize) -> String {
    if max == 0 {
        text.clear();
        return text;
    }
    if text.char_indices().nth(max).is_some() {
        if let Some((end, _)) = text.char_indices().nth(max - 1) {
            text.truncate(end);
            text.push('…');
        }
    }
    text
}

/// The start of a text from outside, for a message: at most `max_chars`
/// characters, with `…` where it was cut.
pub fn shorten(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.to_owned(),
    }
}

/// A value a client or the marketplace sent, quoted and cut short.
pub fn quoted(value: &str) -> String {
    format!("{:?}", shorten(value, 40))
}

/// A rating waiting to be synced, as read from the ratings table.
#[derive(Debug, Clone, PartialEq)]
pub struct Rating {
    /// The rating's key in the ratings table.
    pub id: String,
    /// The tenant the rating belongs to; copied to its dead-letter item.
    pub tenant_id: String,
    /// The skill rated.
    pub skill_id: String,
    /// The user who rated it; the marketplace keeps one rating per user and
    /// skill.
    pub user_id: String,
    /// The stars as DynamoDB returned the number, kept as text so that an
    /// invalid value is reported exactly as it was written.
    pub rating: String,
    /// The text review, sent as the comment.
    pub review: Option<String>,
    /// When the rating was first written.
    pub created_at: String,
    /// Last local modification (RFC 3339, UTC); the backlog index sorts on it.
    pub updated_at: String,
    /// Incremented by the Atom app on every edit; a rating is marked synced
    /// only if its version did not move while it was being uploaded.
    pub version: i64,
    /// The marketplace's id once the rating has been created there: from then
    /// on an edit travels as an update, never as a second create.
    pub remote_rating_id: Option<String>,
    /// How many sync attempts failed since the last success; non-zero means
    /// the rating has an item in the dead-letter table.
    pub sync_failures: u32,
    /// Bumped when an admin puts the rating back in the backlog, so that the
    /// re-push is a new request, not a replay of the last one.
    pub sync_round: u32,
}

/// Where a rating stands, as anything that shows a rating reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SyncState {
    /// New or edited: the next run uploads it.
    Pending,
    /// Failed; a later run tries it again.
    Waiting,
    /// Failed for good, or too often: only an admin retry sends it again.
    Parked,
    /// At the marketplace as it is now: nothing to do.
    Synced,
}

impl Rating {
    /// The stars as the marketplace wants them, or the reason this rating may
    /// not be sent at all.
    pub fn stars(&self) -> Result<u8, String> {
        parse_stars(&self.rating)
            .ok_or_else(|| format!("Invalid rating value: {}. Must be 1-5", self.rating))
    }

    /// What is sent for it, or the reason this rating may not be sent at
    /// all: the stars, and the review if it is within the marketplace's
    /// limit.
    pub fn upload_values(&self) -> Result<(u8, Option<&str>), String> {
        if let Some(problem) = self.ids_problem() {
            return Err(problem);
        }
        let stars = self.stars()?;
        let review = self.review.as_deref();
        let length = review.map_or(0, |review| review.chars().count());
        if length > MAX_COMMENT_CHARS {
            return Err(format!(
                "Review too long: {length} characters; the marketplace takes at most {MAX_COMMENT_CHARS}"
            ));
        }
        Ok((stars, review))
    }

    /// Why one of the rating's ids cannot travel, if one cannot. The
    /// rating's id (in the `Idempotency-Key` header), its skill's and its
    /// remote rating's (URL path segments) must pass [`id_problem`]: a
    /// control character makes a header the client refuses, and `..` or
    /// `/` would change the URL's path. The user id travels in the body
    /// only: [`user_id_problem`].
    pub fn ids_problem(&self) -> Option<String> {
        let strict = [
            ("id", Some(&self.id)),
            ("skill_id", Some(&self.skill_id)),
            ("remote_rating_id", self.remote_rating_id.as_ref()),
        ];
        for (field, value) in strict {
            if let Some(problem) = value.and_then(|id| id_problem(id)) {
                return Some(format!("Invalid {field}: {problem}"));
            }
        }
        user_id_problem(&self.user_id).map(|problem| format!("Invalid user_id: {problem}"))
    }

    /// A failed attempt at this version of the rating; the message is cut
    /// to [`MAX_MESSAGE_CHARS`].
    pub fn failure(&self, message: impl Into<String>, retryable: bool) -> SyncFailure {
        SyncFailure {
            rating_id: self.id.clone(),
            tenant_id: self.tenant_id.clone(),
            failures_before: self.sync_failures,
            attempted: Some((self.version, self.updated_at.clone())),
            message: cut_message(message),
            retryable,
            rated: Some((self.skill_id.clone(), self.user_id.clone())),
        }
    }
}

/// Accepts whole numbers 1..=5, also when written as `4.0`.
fn parse_stars(text: &str) -> Option<u8> {
    let value: f64 = text.trim().parse().ok()?;
    if value.fract() != 0.0 || !(1.0..=5.0).contains(&value) {
        return None;
    }
    let stars = value as u8;
    STARS.contains(&stars).then_some(stars)
}

/// An item in the backlog that does not follow the write contract.
#[derive(Debug, Clone, PartialEq)]
pub struct MalformedRating {
    /// The item's key, to record the failure under.
    pub id: String,
    /// The item's tenant, empty when it has none.
    pub tenant_id: String,
    /// Failed attempts already recorded on the item.
    pub sync_failures: u32,
    /// What breaks the write contract; the failure's message.
    pub problem: String,
}

impl MalformedRating {
    /// Bad data does not get better by itself: not retryable. The message
    /// is cut to [`MAX_MESSAGE_CHARS`].
    pub fn failure(&self) -> SyncFailure {
        SyncFailure {
            rating_id: self.id.clone(),
            tenant_id: self.tenant_id.clone(),
            failures_before: self.sync_failures,
            attempted: None,
            message: cut_message(self.problem.as_str()),
            retryable: false,
            rated: None,
        }
    }
}

/// One backlog entry: a rating that can be uploaded, or one that cannot.
pub type PendingRating = Result<Rating, MalformedRating>;

/// A failed attempt, as the dead-letter table records it.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncFailure {
    /// The rating that failed; the key of its dead-letter item.
    pub rating_id: String,
    /// The rating's tenant, copied to the dead-letter item.
    pub tenant_id: String,
    /// Earlier failed attempts; non-zero means the dead-letter item exists.
    pub failures_before: u32,
    /// The `version` and `updated_at` that were attempted, so that a failure
    /// is never written over a newer edit (`None` for unreadable items).
    pub attempted: Option<(i64, String)>,
    /// What went wrong, as the dead-letter item and the admin listing show
    /// it; at most [`MAX_MESSAGE_CHARS`] when built by
    /// [`Rating::failure`] or [`MalformedRating::failure`].
    pub message: String,
    /// Whether trying again later may succeed.
    pub retryable: bool,
    /// The rated skill and the user, when the item could be read (for the
    /// `RatingParked` event).
    pub rated: Option<(String, String)>,
}

impl SyncFailure {
    /// This attempt included.
    pub fn attempts(&self) -> u32 {
        self.failures_before + 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rating_with(stars: &str) -> Rating {
        Rating {
            id: "r1".into(),
            tenant_id: "t1".into(),
            skill_id: "s1".into(),
            user_id: "u1".into(),
            rating: stars.into(),
            review: None,
            created_at: "2026-01-01T00:00:00Z".into(),
            updated_at: "2026-01-01T00:00:00Z".into(),
            version: 1,
            remote_rating_id: None,
            sync_failures: 0,
            sync_round: 0,
        }
    }

    #[test]
    fn whole_stars_from_one_to_five_are_valid() {
        for (text, stars) in [("1", 1), ("3", 3), ("5", 5), ("4.0", 4)] {
            assert_eq!(rating_with(text).stars(), Ok(stars), "{text}");
        }
    }

    #[test]
    fn anything_else_is_rejected_with_the_value_as_written() {
        for text in ["0", "6", "-1", "2.5", "NaN", "inf", "", "five", "1e3"] {
            assert_eq!(
                rating_with(text).stars(),
                Err(format!("Invalid rating value: {text}. Must be 1-5")),
                "{text}"
            );
        }
    }

    #[test]
    fn ids_that_would_change_a_url_or_break_a_header_are_refused_before_any_request() {
        // (field, value, what the reason says)
        let table: [(&str, &str, &str); 12] = [
            ("id", "r\u{1}1", "Invalid id"),
            ("id", "r 1", "Invalid id"),
            ("id", "", "Invalid id"),
            ("skill_id", "..", "Invalid skill_id"),
            ("skill_id", ".\t.", "Invalid skill_id"),
            ("skill_id", ".", "Invalid skill_id"),
            ("skill_id", "a/b", "Invalid skill_id"),
            ("remote_rating_id", "..", "Invalid remote_rating_id"),
            ("remote_rating_id", "x\ny", "Invalid remote_rating_id"),
            ("user_id", "u\u{7f}", "Invalid user_id"),
            ("user_id", "..", "Invalid user_id"),
            ("user_id", "", "Invalid user_id"),
        ];
        for (field, value, says) in table {
            let mut rating = rating_with("3");
            match field {
                "id" => rating.id = value.into(),
                "skill_id" => rating.skill_id = value.into(),
                "remote_rating_id" => rating.remote_rating_id = Some(value.into()),
                _ => rating.user_id = value.into(),
            }
            let problem = rating.upload_values().expect_err(value);
            assert!(problem.starts_with(says), "{value:?}: {problem}");
        }
        let mut long = rating_with("3");
        long.skill_id = "s".repeat(MAX_ID_CHARS + 1);
        assert!(long.upload_values().is_err());
        long.skill_id = "s".repeat(MAX_ID_CHARS);
        assert!(long.upload_values().is_ok());
        long.user_id = "u".repeat(MAX_USER_ID_CHARS + 1);
        assert!(long.upload_values().unwrap_err().contains("1 to 256"));
    }

    #[test]
    fn user_ids_may_be_email_addresses() {
        for id in ["ana+ratings@example.com", "Zoë Ölm", "u/1", "...", "a..b"] {
            let mut rating = rating_with("3");
            rating.user_id = id.into();
            assert_eq!(rating.upload_values(), Ok((3, None)), "{id}");
        }
    }

    #[test]
    fn failure_messages_are_cut_to_a_fixed_length() {
        let huge = "x".repeat(250_000);
        let mut rating = rating_with(&huge);
        let problem = rating.stars().unwrap_err();
        assert!(problem.len() > 250_000);
        let failure = rating.failure(problem, false);
        assert_eq!(failure.message.chars().count(), MAX_MESSAGE_CHARS);
        assert!(failure.message.starts_with("Invalid rating value: xxx"));
        assert!(failure.message.ends_with('…'));
        rating.rating = "3".into();
        assert_eq!(rating.failure("short", true).message, "short");
        let malformed = MalformedRating {
            id: "r".into(),
            tenant_id: String::new(),
            sync_failures: 0,
            problem: "é".repeat(5_000),
        };
        let message = malformed.failure().message;
        assert_eq!(message.chars().count(), MAX_MESSAGE_CHARS);
        // Exactly the limit is kept whole; multi-byte characters are never split.
        let exact = "é".repeat(MAX_MESSAGE_CHARS);
        assert_eq!(cut_message(exact.clone()), exact);
        assert_eq!(cut_to("abc".into(), 0), "");
        assert_eq!(cut_to("abcd".into(), 3), "ab…");
    }

    #[test]
    fn a_failure_counts_its_attempts_and_names_the_version_tried() {
        let mut rating = rating_with("3");
        assert_eq!(rating.failure("x", true).attempts(), 1);
        rating.sync_failures = 2;
        let failure = rating.failure("boom", false);
        assert_eq!(failure.attempts(), 3);
        assert_eq!(failure.message, "boom");
        assert_eq!(failure.rating_id, "r1");
        assert!(!failure.retryable);
        assert_eq!(
            failure.attempted,
            Some((1, "2026-01-01T00:00:00Z".to_owned()))
        );
    }
}
