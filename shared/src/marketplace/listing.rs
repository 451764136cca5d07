//! A skill's listing (`GET /skills/{skill_id}`) decoded entry by entry, with
//! memory bounded by the number of entries as well as by the bytes read.
//!
//! The body is at most `ATOM_SAAS_MAX_SKILL_RESPONSE_BYTES`, but bytes alone
//! do not bound memory: 4 MiB of `[1,1,1,…]` is two million entries, and a
//! `Vec` of two million decoded values and error strings is hundreds of MB.
//! So the `ratings` array is read one entry at a time (one
//! `serde_json::Value` alive at once, never a `Vec` of them), each entry is
//! turned into a [`Listed`] straight away, an entry that names no user is
//! counted but not kept (nothing could match it with a local rating), and a
//! listing with more entries than [`max_entries`] allows is refused.

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};

use super::wire::Listed;

/// The fewest bytes a real rating takes in a listing. A usable entry has an
/// id, a user, stars and a time: `{"id":"7","user_id":"u","rating":5,
/// "created_at":"2026-01-01T00:00:00Z"}` is already 70 bytes, and the
/// marketplace's own entries are well over 100. A listing with more entries
/// than one per this many bytes of the byte cap is not a real skill.
pub const MIN_ENTRY_BYTES: usize = 64;

/// The most entries read from one listing of at most `max_bytes`: one per
/// [`MIN_ENTRY_BYTES`] (65,536 at the default 4 MiB, about four times the
/// ratings of a 4 MiB listing with full comments), and never fewer than
/// 1,024.
pub fn max_entries(max_bytes: usize) -> usize {
    (max_bytes / MIN_ENTRY_BYTES).max(1024)
}

/// Why a listing could not be read.
#[derive(Debug, PartialEq)]
pub(super) enum ListingError {
    /// More than this many entries.
    TooMany(usize),
    /// Not a JSON object with a `ratings` array; serde's message.
    NotASkill(String),
}

/// The listed ratings of `body`, at most `cap` entries (see the module
/// docs). A missing `ratings` lists none.
pub(super) fn decode_listing(body: &[u8], cap: usize) -> Result<Vec<Listed>, ListingError> {
    decode_counting(body, cap).0
}

/// [`decode_listing`], and how many entries were read: past the cap, the
/// rest of the body is never looked at.
fn decode_counting(body: &[u8], cap: usize) -> (Result<Vec<Listed>, ListingError>, usize) {
    let entries = Cell::new(0);
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let read = SkillSeed {
        cap,
        entries: &entries,
    }
    .deserialize(&mut deserializer)
    .and_then(|listed| deserializer.end().map(|()| listed));
    let read = read.map_err(|e| {
        if entries.get() > cap {
            ListingError::TooMany(cap)
        } else {
            ListingError::NotASkill(e.to_string())
        }
    });
    (read, entries.get())
}

/// The skill object: its `ratings`, every other field skipped unread.
struct SkillSeed<'a> {
    cap: usize,
    /// Entries read so far.
    entries: &'a Cell<usize>,
}

impl<'de> DeserializeSeed<'de> for SkillSeed<'_> {
    type Value = Vec<Listed>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for SkillSeed<'_> {
    type Value = Vec<Listed>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a skill with ratings")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut ratings = None;
        while let Some(key) = map.next_key::<String>()? {
            if key != "ratings" {
                map.next_value::<IgnoredAny>()?;
                continue;
            }
            if ratings.is_some() {
                return Err(de::Error::duplicate_field("ratings"));
            }
            ratings = Some(map.next_value_seed(RatingsSeed {
                cap: self.cap,
                entries: self.entries,
            })?);
        }
        Ok(ratings.unwrap_or_default())
    }
}

/// The `ratings` array, one entry at a time.
struct RatingsSeed<'a> {
    cap: usize,
    entries: &'a Cell<usize>,
}

impl<'de> DeserializeSeed<'de> for RatingsSeed<'_> {
    type Value = Vec<Listed>;

    fn deserialize<D: de::Deserializer<'de>>(
        self,
        deserializer: D,
    ) -> Result<Self::Value, D::Error> {
        deserializer.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RatingsSeed<'_> {
    type Value = Vec<Listed>;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an array of ratings")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut listed = Vec::new();
        while let Some(entry) = seq.next_element::<serde_json::Value>()? {
            let entries = self.entries.get().saturating_add(1);
            self.entries.set(entries);
            if entries > self.cap {
                return Err(de::Error::custom(format_args!(
                    "more than {} ratings listed",
                    self.cap
                )));
            }
            let entry = Listed::decode(entry);
            // Nothing matches an entry without a user with a local rating.
            if entry.user_id.is_some() {
                listed.push(entry);
            }
        }
        Ok(listed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tiny_entries(count: usize) -> Vec<u8> {
        let mut body = Vec::with_capacity(count * 2 + 16);
        body.extend_from_slice(b"{\"ratings\":[");
        for i in 0..count {
            if i > 0 {
                body.push(b',');
            }
            body.push(b'1');
        }
        body.extend_from_slice(b"]}");
        body
    }

    #[test]
    fn the_cap_follows_the_byte_cap_and_is_never_tiny() {
        assert_eq!(max_entries(4 * 1024 * 1024), 65_536);
        assert_eq!(max_entries(64 * 1024 * 1024), 1_048_576);
        assert_eq!(max_entries(0), 1024);
    }

    #[test]
    fn entries_are_read_one_by_one_and_those_without_a_user_are_not_kept() {
        let body = br#"{"id":"s1","extra":{"deep":[1,2,3]},"ratings":[
            {"id":"rr-1","user_id":"u1","rating":4,"updated_at":"2026-01-01T00:00:00Z"},
            {"id":"rr-2","user_id":"u2","rating":"five"},
            1, null, {"rating":3}, "u3"
        ]}"#;
        let listed = decode_listing(body, 100).unwrap();
        assert_eq!(listed.len(), 2);
        assert_eq!(listed[0].rating.as_ref().unwrap().id, "rr-1");
        assert_eq!(listed[1].user_id.as_deref(), Some("u2"));
        assert!(listed[1].rating.is_err());
        // The cap counts every entry, kept or not.
        assert_eq!(decode_listing(body, 6).map(|l| l.len()), Ok(2));
        assert_eq!(decode_listing(body, 5), Err(ListingError::TooMany(5)));
    }

    #[test]
    fn what_is_not_a_skill_with_ratings_is_refused() {
        assert_eq!(decode_listing(br#"{"id":"s"}"#, 10), Ok(Vec::new()));
        for body in [
            &br#"[]"#[..],
            br#"{"ratings":{}}"#,
            br#"{"ratings":null}"#,
            br#"{"ratings":[],"ratings":[]}"#,
            br#"{"ratings":[1,"#,
            br#"{"ratings":[]} trailing"#,
            b"",
        ] {
            assert!(
                matches!(decode_listing(body, 10), Err(ListingError::NotASkill(_))),
                "{}",
                String::from_utf8_lossy(body)
            );
        }
    }

    #[test]
    fn four_mib_of_tiny_entries_is_refused_at_the_cap_without_building_them() {
        let body = tiny_entries(2_000_000);
        assert!(body.len() <= 4 * 1024 * 1024, "{}", body.len());
        let cap = max_entries(4 * 1024 * 1024);
        let (read, entries) = decode_counting(&body, cap);
        assert_eq!(read, Err(ListingError::TooMany(cap)));
        assert_eq!(entries, cap + 1, "reading stopped one entry past the cap");
        // Up to the cap, such entries are read and none is kept.
        let (read, entries) = decode_counting(&tiny_entries(cap), cap);
        assert_eq!((read.map(|l| l.len()), entries), (Ok(0), cap));
    }

    #[test]
    fn a_listing_of_real_size_entries_is_read_whole() {
        // 4 MiB of entries of the simulator's shape (about 165 bytes each):
        // far fewer than the cap.
        let entry = |i: usize| {
            format!(
                r#"{{"id": "filler-{i:07}", "user_id": "filler-user-{i}", "rating": 3, "comment": null, "created_at": "2024-01-01T00:00:00.000Z", "updated_at": "2024-01-01T00:00:00.000Z"}}"#
            )
        };
        let max_bytes = 4 * 1024 * 1024;
        let mut body = b"{\"ratings\":[".to_vec();
        let mut count = 0;
        while body.len() + entry(count).len() + 3 < max_bytes {
            if count > 0 {
                body.push(b',');
            }
            body.extend_from_slice(entry(count).as_bytes());
            count += 1;
        }
        body.extend_from_slice(b"]}");
        let listed = decode_listing(&body, max_entries(max_bytes)).unwrap();
        assert_eq!(listed.len(), count);
        assert!(listed.iter().all(|l| l.rating.is_ok()));
        assert!(
            count > 20_000 && count < max_entries(max_bytes) / 2,
            "{count}"
        );
    }
}
