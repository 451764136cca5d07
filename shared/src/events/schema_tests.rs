//! Each event against its schema in `schemas/events/`. A file is the JSON
//! Schema (draft 4) of the whole event as EventBridge delivers it, in the
//! shape of the schemas EventBridge exports: the envelope at the root, named
//! by `x-amazon-events-source` and `x-amazon-events-detail-type`, its
//! `detail` a reference to `definitions/<detail type>`. The detail of a
//! sample event is, key for key and value for value, that definition's own
//! example (`x-examples[0]` with every optional field, `x-examples[1]` with
//! none), so the examples `tests/checks/test_event_schemas.py` validates are
//! what the code writes. The field set is pinned: a field added to a struct
//! fails here until the schema documents it (and someone has looked at it
//! for secrets). The template registers these files as they are
//! (`infra/scripts/event_schemas.py`).

use std::collections::BTreeSet;

use serde_json::{json, Value};

use super::*;

/// The schema files, by detail type.
const SCHEMAS: [(&str, &str); 4] = [
    (
        "RatingSynced",
        include_str!("../../../schemas/events/RatingSynced.json"),
    ),
    (
        "RatingParked",
        include_str!("../../../schemas/events/RatingParked.json"),
    ),
    (
        "RemoteRatingApplied",
        include_str!("../../../schemas/events/RemoteRatingApplied.json"),
    ),
    (
        "SyncRunCompleted",
        include_str!("../../../schemas/events/SyncRunCompleted.json"),
    ),
];

/// The whole file: the event's schema.
fn file(detail_type: &str) -> Value {
    let (_, text) = SCHEMAS
        .iter()
        .find(|(name, _)| *name == detail_type)
        .unwrap_or_else(|| panic!("no schema for {detail_type}"));
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{detail_type}.json: {e}"))
}

/// The schema of the event's `detail`: the definition its envelope refers to.
fn schema(detail_type: &str) -> Value {
    let mut file = file(detail_type);
    let detail = file["definitions"][detail_type].take();
    assert!(
        detail.is_object(),
        "{detail_type}.json: no definitions/{detail_type}"
    );
    detail
}

/// Each detail type's two samples: every optional field set, then none;
/// the values of the schemas' examples.
fn samples() -> Vec<[SyncEvent; 2]> {
    vec![
        [
            SyncEvent::RatingSynced(RatingSynced {
                rating_id: "r-7f3c".into(),
                skill_id: "skill-42".into(),
                user_id: "user-9".into(),
                remote_rating_id: "mkt-5521".into(),
                version: 3,
                freshness_seconds: Some(12.5),
                path: SyncPath::Scheduled,
                synced_at: "2026-11-29T09:00:08.112Z".into(),
            }),
            SyncEvent::RatingSynced(RatingSynced {
                rating_id: "r-7f3d".into(),
                skill_id: "skill-42".into(),
                user_id: "user-10".into(),
                remote_rating_id: "mkt-5522".into(),
                version: 1,
                freshness_seconds: None,
                path: SyncPath::FastPath,
                synced_at: "2026-11-29T09:00:08.305Z".into(),
            }),
        ],
        [
            SyncEvent::RatingParked(RatingParked {
                rating_id: "r-7f3e".into(),
                skill_id: Some("skill-42".into()),
                user_id: Some("user-11".into()),
                error: "The marketplace refused the rating (422): rating must be between 1 and 5"
                    .into(),
                attempts: 1,
                path: SyncPath::Scheduled,
                parked_at: "2026-11-29T09:00:08.420Z".into(),
            }),
            SyncEvent::RatingParked(RatingParked {
                rating_id: "r-7f3f".into(),
                skill_id: None,
                user_id: None,
                error: "The stored rating has no skill_id".into(),
                attempts: 1,
                path: SyncPath::Admin,
                parked_at: "2026-11-29T09:01:00.000Z".into(),
            }),
        ],
        [
            SyncEvent::RemoteRatingApplied(RemoteRatingApplied {
                rating_id: "r-7f40".into(),
                skill_id: "skill-42".into(),
                user_id: "user-12".into(),
                remote_rating_id: Some("mkt-5530".into()),
                rating: 4,
                remote_updated_at: "2026-11-29T08:58:00Z".into(),
                source: AppliedFrom::Pull,
                applied_at: "2026-11-29T09:00:09.001Z".into(),
            }),
            SyncEvent::RemoteRatingApplied(RemoteRatingApplied {
                rating_id: "r-7f41".into(),
                skill_id: "skill-43".into(),
                user_id: "user-12".into(),
                remote_rating_id: None,
                rating: 2,
                remote_updated_at: "2026-11-29T08:59:30.250Z".into(),
                source: AppliedFrom::Conflict,
                applied_at: "2026-11-29T09:00:09.120Z".into(),
            }),
        ],
        [
            SyncEvent::SyncRunCompleted(SyncRunCompleted {
                run_id: "64138cbd-7684-4ca1-b3c4-6e61a81c75d9".into(),
                trigger: "admin".into(),
                success: false,
                uploaded: 40,
                created: 30,
                updated: 10,
                failed: 2,
                parked: 1,
                pulled: 3,
                conflicts: 1,
                skipped: 58,
                pending_count: Some(60),
                duration_ms: 27_400,
                stopped_early: Some("The invocation's deadline was near".into()),
                error: Some(
                    "The circuit breaker opened after 10 transient failures in a row".into(),
                ),
                finished_at: "2026-11-29T09:00:35.684Z".into(),
            }),
            SyncEvent::SyncRunCompleted(SyncRunCompleted {
                run_id: "0b0c5f2e-2f9a-4d7c-9a51-0e6c1f1f7a10".into(),
                trigger: "scheduled".into(),
                success: true,
                uploaded: 295,
                created: 295,
                updated: 0,
                failed: 5,
                parked: 5,
                pulled: 0,
                conflicts: 0,
                skipped: 0,
                pending_count: None,
                duration_ms: 2020,
                stopped_early: None,
                error: None,
                finished_at: "2026-11-29T09:00:09.304Z".into(),
            }),
        ],
    ]
}

fn keys(value: &Value) -> BTreeSet<String> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .cloned()
        .collect()
}

fn strings(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| v.as_str().expect("a string").to_owned())
        .collect()
}

#[test]
fn every_detail_type_has_a_schema_file_and_no_other_file_is_there() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../schemas/events");
    let files: BTreeSet<String> = std::fs::read_dir(&dir)
        .expect("schemas/events")
        .map(|entry| entry.expect("a directory entry").file_name())
        .map(|name| name.to_string_lossy().into_owned())
        .collect();
    let expected: BTreeSet<String> = DETAIL_TYPES.iter().map(|t| format!("{t}.json")).collect();
    assert_eq!(files, expected);
    let covered: Vec<&str> = samples().iter().map(|[e, _]| e.detail_type()).collect();
    assert_eq!(covered, DETAIL_TYPES, "one pair of samples per detail type");
}

#[test]
fn each_file_is_the_draft_4_envelope_of_its_detail_type_under_the_codes_source() {
    for name in DETAIL_TYPES {
        let file = file(name);
        assert_eq!(
            file["$schema"], "http://json-schema.org/draft-04/schema#",
            "{name}"
        );
        assert!(file.get("$id").is_none(), "{name}: draft 4 says `id`");
        assert_eq!(file["id"], format!("urn:atom-rating-sync:events:{name}"));
        assert_eq!(file["title"], name);
        assert_eq!(file["x-amazon-events-source"], EVENT_SOURCE, "{name}");
        assert_eq!(file["x-amazon-events-detail-type"], name);
        assert_eq!(file["type"], "object", "{name}");
        assert_eq!(
            file["properties"]["detail"],
            json!({ "$ref": format!("#/definitions/{name}") }),
            "{name}"
        );
        assert_eq!(
            keys(&file["definitions"]),
            BTreeSet::from([name.to_owned()])
        );
        let envelope: BTreeSet<String> = [
            "version",
            "id",
            "detail-type",
            "source",
            "account",
            "time",
            "region",
            "resources",
            "detail",
        ]
        .map(String::from)
        .into();
        assert_eq!(keys(&file["properties"]), envelope, "{name}");
        assert_eq!(strings(&file["required"]), envelope, "{name}");
    }
}

#[test]
fn each_detail_is_its_schemas_example() {
    for [full, minimal] in samples() {
        let schema = schema(full.detail_type());
        assert_eq!(minimal.detail_type(), full.detail_type());
        let examples = schema["x-examples"].as_array().expect("x-examples");
        assert_eq!(examples.len(), 2, "{}", full.detail_type());
        assert_eq!(full.detail(), examples[0], "{}", full.detail_type());
        assert_eq!(minimal.detail(), examples[1], "{}", full.detail_type());
    }
}

#[test]
fn the_fields_are_the_schemas_properties_and_the_always_present_ones_are_required() {
    for [full, minimal] in samples() {
        let name = full.detail_type();
        let schema = schema(name);
        assert_eq!(schema["type"], "object", "{name}");
        assert_eq!(schema["additionalProperties"], false, "{name}");
        let properties = keys(&schema["properties"]);
        assert_eq!(keys(&full.detail()), properties, "{name}: every field set");
        assert_eq!(
            keys(&minimal.detail()),
            strings(&schema["required"]),
            "{name}: no optional field set"
        );
        for (field, spec) in schema["properties"].as_object().expect("properties") {
            let described = spec["description"].as_str().unwrap_or("");
            assert!(
                !described.trim().is_empty(),
                "{name}.{field}: no description"
            );
            for word in ["token", "secret", "password", "review", "comment"] {
                assert!(
                    !field.contains(word),
                    "{name}.{field}: no secrets in events"
                );
            }
        }
    }
}

#[test]
fn each_value_has_the_type_its_schema_gives() {
    for pair in samples() {
        for event in pair {
            let name = event.detail_type();
            let schema = schema(name);
            let detail = event.detail();
            for (field, value) in detail.as_object().expect("an object") {
                let spec = &schema["properties"][field];
                let fits = match spec["type"].as_str() {
                    Some("string") => value.is_string(),
                    Some("integer") => value.is_u64(),
                    Some("number") => value.is_number(),
                    Some("boolean") => value.is_boolean(),
                    other => panic!("{name}.{field}: type {other:?}"),
                };
                assert!(fits, "{name}.{field} = {value}: not a {}", spec["type"]);
                if let Some(allowed) = spec["enum"].as_array() {
                    assert!(allowed.contains(value), "{name}.{field} = {value}");
                }
            }
        }
    }
}

#[test]
fn the_enums_are_written_in_snake_case_as_their_schemas_list_them() {
    let paths = [SyncPath::FastPath, SyncPath::Scheduled, SyncPath::Admin]
        .map(|path| serde_json::to_value(path).expect("a path"));
    assert_eq!(
        paths,
        [json!("fast_path"), json!("scheduled"), json!("admin")]
    );
    for name in ["RatingSynced", "RatingParked"] {
        assert_eq!(
            schema(name)["properties"]["path"]["enum"],
            json!(paths),
            "{name}"
        );
    }
    let sources = [AppliedFrom::Pull, AppliedFrom::Conflict]
        .map(|source| serde_json::to_value(source).expect("a source"));
    assert_eq!(
        schema("RemoteRatingApplied")["properties"]["source"]["enum"],
        json!(sources)
    );
}

#[test]
fn long_errors_are_cut_to_the_schemas_max_length() {
    assert_eq!(
        schema("RatingParked")["properties"]["error"]["maxLength"],
        MAX_ERROR_CHARS
    );
    for field in ["error", "stopped_early"] {
        assert_eq!(
            schema("SyncRunCompleted")["properties"][field]["maxLength"],
            MAX_ERROR_CHARS
        );
    }
    let [parked, _] = samples().remove(1);
    let SyncEvent::RatingParked(parked) = parked else {
        panic!("the second samples are RatingParked");
    };
    let with_error = |error: String| {
        let detail = SyncEvent::RatingParked(RatingParked {
            error,
            ..parked.clone()
        })
        .detail();
        detail["error"].as_str().expect("an error").to_owned()
    };
    // Characters, not bytes: 2 bytes each.
    let exactly = "é".repeat(MAX_ERROR_CHARS);
    assert_eq!(with_error(exactly.clone()), exactly, "at the limit: kept");
    let cut = with_error("é".repeat(MAX_ERROR_CHARS + 1));
    assert_eq!(cut.chars().count(), MAX_ERROR_CHARS);
    assert!(cut.ends_with("é…"), "{cut}");
    let cut = with_error(format!("DynamoDB: {}", "x".repeat(300_000)));
    assert_eq!(cut.chars().count(), MAX_ERROR_CHARS);
    assert!(cut.starts_with("DynamoDB: xxx"));

    let [run, _] = samples().remove(3);
    let SyncEvent::SyncRunCompleted(run) = run else {
        panic!("the fourth samples are SyncRunCompleted");
    };
    let detail = SyncEvent::SyncRunCompleted(SyncRunCompleted {
        error: Some("e".repeat(5000)),
        stopped_early: Some("s".repeat(5000)),
        ..run
    })
    .detail();
    for field in ["error", "stopped_early"] {
        let text = detail[field].as_str().expect("a string");
        assert_eq!(text.chars().count(), MAX_ERROR_CHARS, "{field}");
    }
}

#[test]
fn a_freshness_that_is_not_a_finite_number_is_left_out() {
    let [synced, _] = samples().remove(0);
    let SyncEvent::RatingSynced(synced) = synced else {
        panic!("the first samples are RatingSynced");
    };
    for freshness in [f64::NAN, f64::INFINITY, f64::NEG_INFINITY] {
        let detail = SyncEvent::RatingSynced(RatingSynced {
            freshness_seconds: Some(freshness),
            ..synced.clone()
        })
        .detail();
        assert!(detail.get("freshness_seconds").is_none(), "{detail}");
        assert_eq!(detail["rating_id"], "r-7f3c");
    }
}

#[test]
fn times_are_rfc_3339_utc_to_the_millisecond() {
    let at = DateTime::from_timestamp_millis(1_795_942_808_112).expect("a time");
    assert_eq!(timestamp(at), "2026-11-29T09:00:08.112Z");
}
