"""schemas/events/*.json, the contract of the sync's EventBridge events.

Each file is a JSON Schema draft 4 document (the draft EventBridge's schema
registry takes, type JSONSchemaDraft4) of the whole event as EventBridge
delivers it, in the shape of the schemas the registry exports: the envelope
(`version`, `id`, `detail-type`, `source`, ...) at the root, named by
`x-amazon-events-source` and `x-amazon-events-detail-type`, and `detail` a
`$ref` to `#/definitions/<detail type>`, the closed object the code writes.
The template registers these files as they are (checked by
tests/checks/test_template.py).

The Rust unit tests (shared/src/events/schema_tests.rs) hold each event's
`detail` equal, key for key, to its definition's `x-examples`: [0] with
every optional field, [1] with none. This checks the other half, that

* each file is a valid draft 4 schema that uses draft 4's keywords only (a
  later draft's keyword, `const` or `examples` say, would be ignored by a
  draft 4 validator without a word), and the three extensions the registry
  knows or tolerates, each in its place;
* the envelope is EventBridge's, under the code's source, and stays open
  (EventBridge may add a field, `replay-name` on a replayed event); the
  detail allows no other property, describes every property and requires
  only properties it defines;
* its examples, each in an envelope, validate against it with a draft 4
  validator, dates checked as RFC 3339, and so does the event that
  docs/events.md shows as a rule's target receives it;
* it refuses what the code never writes: an unknown field, a missing
  required field, a `null`, a value of another type or outside its enum,
  an error longer than 1,000 characters, a time that is not RFC 3339; and an
  event without its detail;
* the schema files are the detail types the code publishes, and the events
  page (docs/events.md) names each one.

    .venv/bin/python -m unittest tests/checks/test_event_schemas.py
"""

import copy
import json
import pathlib
import re
import unittest

from jsonschema import Draft4Validator

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas" / "events"
EVENTS_PAGE = (ROOT / "docs" / "events.md").read_text(encoding="utf-8")
EVENTS_SOURCE = (ROOT / "shared" / "src" / "events" / "mod.rs").read_text(encoding="utf-8")
DRAFT_4 = "http://json-schema.org/draft-04/schema#"
# Every keyword of draft 4: its meta-schema's properties, and `$ref`.
DRAFT_4_KEYWORDS = set(Draft4Validator.META_SCHEMA["properties"]) | {"$ref"}
# The extensions, and where each may be: the registry's two names of the
# event at the root; the detail's examples in its definition.
ROOT_EXTENSIONS = {"x-amazon-events-source", "x-amazon-events-detail-type"}
DETAIL_EXTENSIONS = {"x-examples"}
# The envelope EventBridge delivers every event in, as the registry's
# exported schemas require it.
ENVELOPE = ["version", "id", "detail-type", "source", "account", "time", "region", "resources", "detail"]


def detail_types():
    """DETAIL_TYPES of shared/src/events/mod.rs."""
    block = re.search(r"pub const DETAIL_TYPES: \[&str; \d+\] = \[(.*?)\];", EVENTS_SOURCE, re.DOTALL)
    return re.findall(r'"(\w+)"', block.group(1))


def event_source():
    """EVENT_SOURCE of shared/src/events/mod.rs."""
    (source,) = re.findall(r'pub const EVENT_SOURCE: &str = "([^"]+)";', EVENTS_SOURCE)
    return source


def load(name):
    return json.loads((SCHEMAS / f"{name}.json").read_text(encoding="utf-8"))


def detail_schema(name):
    return load(name)["definitions"][name]


def validator(schema):
    return Draft4Validator(schema, format_checker=Draft4Validator.FORMAT_CHECKER)


def event(name, detail):
    """`detail` in the envelope EventBridge delivers it in."""
    return {
        "version": "0",
        "id": "3f1e8c55-2a57-4a8e-9f0b-6d1c2f6a9e10",
        "detail-type": name,
        "source": event_source(),
        "account": "123456789012",
        "time": "2026-11-29T09:00:08Z",
        "region": "eu-west-1",
        "resources": [],
        "detail": detail,
    }


def subschemas(schema, path="#"):
    """(path, schema) of `schema` and of every schema inside it, through
    every keyword of draft 4 that holds schemas."""
    yield path, schema
    for keyword in ["properties", "patternProperties", "definitions", "dependencies"]:
        for name, inner in schema.get(keyword, {}).items():
            if isinstance(inner, dict):
                yield from subschemas(inner, f"{path}/{keyword}/{name}")
    for keyword in ["items", "additionalItems", "additionalProperties", "not"]:
        inner = schema.get(keyword)
        if isinstance(inner, dict):
            yield from subschemas(inner, f"{path}/{keyword}")
        elif isinstance(inner, list):
            for i, item in enumerate(inner):
                yield from subschemas(item, f"{path}/{keyword}/{i}")
    for keyword in ["allOf", "anyOf", "oneOf"]:
        for i, inner in enumerate(schema.get(keyword, [])):
            yield from subschemas(inner, f"{path}/{keyword}/{i}")


def wrong_type_value(spec):
    """A value of another JSON type than the property's."""
    return {"string": 7, "integer": "7", "number": "7.5", "boolean": "true"}[spec["type"]]


class EventSchemas(unittest.TestCase):
    def setUp(self):
        self.names = detail_types()
        self.assertEqual(
            self.names,
            ["RatingSynced", "RatingParked", "RemoteRatingApplied", "SyncRunCompleted"],
        )

    def test_one_schema_per_detail_type_and_nothing_else(self):
        files = sorted(p.name for p in SCHEMAS.iterdir())
        self.assertEqual(files, sorted(f"{name}.json" for name in self.names))

    def test_each_file_is_draft_4_with_draft_4_keywords_only(self):
        for name in self.names:
            with self.subTest(name):
                schema = load(name)
                Draft4Validator.check_schema(schema)
                self.assertEqual(schema["$schema"], DRAFT_4)
                self.assertEqual(schema["id"], f"urn:atom-rating-sync:events:{name}")
                for path, inner in subschemas(schema):
                    allowed = DRAFT_4_KEYWORDS | (
                        ROOT_EXTENSIONS if path == "#" else
                        DETAIL_EXTENSIONS if path == f"#/definitions/{name}" else set()
                    )
                    self.assertEqual(set(inner) - allowed, set(), f"{name}.json {path}: not draft 4")
                    # Draft 4's bounds are exclusive by a boolean beside them.
                    for bound in ["exclusiveMinimum", "exclusiveMaximum"]:
                        if bound in inner:
                            self.assertIsInstance(inner[bound], bool, f"{name}.json {path}")

    def test_the_keyword_check_would_see_a_later_drafts_keyword(self):
        schema = load("RatingSynced")
        schema["definitions"]["RatingSynced"]["properties"]["path"]["const"] = "scheduled"
        schema["examples"] = []
        found = {
            (path, key)
            for path, inner in subschemas(schema)
            for key in set(inner) - DRAFT_4_KEYWORDS - ROOT_EXTENSIONS - DETAIL_EXTENSIONS
        }
        self.assertEqual(found, {("#", "examples"), ("#/definitions/RatingSynced/properties/path", "const")})
        # And that a draft 4 validator does ignore it, which is why it is
        # refused.
        self.assertTrue(validator(schema).is_valid(event("RatingSynced", {
            **detail_schema("RatingSynced")["x-examples"][0], "path": "admin"})))

    def test_the_envelope_is_eventbridges_under_the_codes_source_and_stays_open(self):
        for name in self.names:
            with self.subTest(name):
                schema = load(name)
                self.assertEqual(schema["title"], name)
                self.assertIn(name, schema["description"])
                self.assertEqual(schema["x-amazon-events-source"], event_source())
                self.assertEqual(schema["x-amazon-events-detail-type"], name)
                self.assertEqual(schema["type"], "object")
                self.assertNotIn("additionalProperties", schema)
                self.assertEqual(list(schema["properties"]), ENVELOPE)
                self.assertEqual(sorted(schema["required"]), sorted(ENVELOPE))
                self.assertEqual(schema["properties"]["detail"], {"$ref": f"#/definitions/{name}"})
                self.assertEqual(list(schema["definitions"]), [name])
                for field, spec in schema["properties"].items():
                    if field != "detail":
                        self.assertTrue(spec.get("description", "").strip(), f"{name}.{field}")
                check = validator(schema)
                full = schema["definitions"][name]["x-examples"][0]
                self.assertTrue(check.is_valid({**event(name, full), "replay-name": "after-the-outage"}))
                for field in ENVELOPE:
                    without = {k: v for k, v in event(name, full).items() if k != field}
                    self.assertFalse(check.is_valid(without), f"{name}: without {field}")
                self.assertFalse(check.is_valid({**event(name, full), "time": "yesterday"}))

    def test_each_detail_is_a_closed_described_object(self):
        for name in self.names:
            with self.subTest(name):
                detail = detail_schema(name)
                self.assertEqual(detail["title"], name)
                self.assertIn(name, detail["description"])
                self.assertEqual(detail["type"], "object")
                self.assertIs(detail["additionalProperties"], False)
                properties = detail["properties"]
                self.assertLessEqual(set(detail["required"]), set(properties))
                self.assertEqual(len(detail["required"]), len(set(detail["required"])))
                for field, spec in properties.items():
                    self.assertTrue(spec.get("description", "").strip(), f"{name}.{field}")
                    self.assertIn(spec.get("type"), {"string", "integer", "number", "boolean"})

    def test_the_examples_validate_one_full_one_minimal(self):
        for name in self.names:
            with self.subTest(name):
                schema = load(name)
                detail = schema["definitions"][name]
                full, minimal = detail["x-examples"]
                validator(schema).validate(event(name, full))
                validator(schema).validate(event(name, minimal))
                self.assertEqual(set(full), set(detail["properties"]))
                self.assertEqual(set(minimal), set(detail["required"]))

    def test_the_event_the_events_page_shows_validates(self):
        (shown,) = re.findall(r"```json\n(.*?)```", EVENTS_PAGE, re.DOTALL)
        shown = json.loads(shown)
        name = shown["detail-type"]
        self.assertEqual(shown["source"], event_source())
        validator(load(name)).validate(shown)
        self.assertEqual(shown["detail"], detail_schema(name)["x-examples"][0])

    def test_what_the_code_never_writes_is_refused(self):
        for name in self.names:
            schema = load(name)
            detail = schema["definitions"][name]
            check = validator(schema)
            full = detail["x-examples"][0]

            def valid(changed):
                return check.is_valid(event(name, changed))

            with self.subTest(name, case="unknown field"):
                self.assertFalse(valid({**full, "review": "five stars"}))
            with self.subTest(name, case="not an object"):
                self.assertFalse(valid(json.dumps(full)))
            for field in detail["required"]:
                with self.subTest(name, case=f"without {field}"):
                    self.assertFalse(valid({k: v for k, v in full.items() if k != field}))
            for field, spec in detail["properties"].items():
                with self.subTest(name, case=f"{field} null"):
                    self.assertFalse(valid({**full, field: None}))
                with self.subTest(name, case=f"{field} of another type"):
                    self.assertFalse(valid({**full, field: wrong_type_value(spec)}))
                if "enum" in spec:
                    with self.subTest(name, case=f"{field} outside its enum"):
                        self.assertFalse(valid({**full, field: "FastPath"}))
                if spec.get("format") == "date-time":
                    with self.subTest(name, case=f"{field} not RFC 3339"):
                        self.assertFalse(valid({**full, field: "29/11/2026 09:00"}))
                if "maxLength" in spec:
                    self.assertEqual(spec["maxLength"], 1000, f"{name}.{field}")
                    with self.subTest(name, case=f"{field} too long"):
                        at_limit = copy.deepcopy(full)
                        at_limit[field] = "é" * 1000
                        self.assertTrue(valid(at_limit))
                        self.assertFalse(valid({**full, field: "é" * 1001}))

    def test_counts_are_not_negative_and_stars_are_one_to_five(self):
        run = load("SyncRunCompleted")
        check = validator(run)
        run_example = run["definitions"]["SyncRunCompleted"]["x-examples"][0]
        for field, spec in run["definitions"]["SyncRunCompleted"]["properties"].items():
            if spec["type"] == "integer":
                with self.subTest(field):
                    self.assertFalse(check.is_valid(event("SyncRunCompleted", {**run_example, field: -1})))
        applied = load("RemoteRatingApplied")
        applied_example = applied["definitions"]["RemoteRatingApplied"]["x-examples"][0]
        for stars, valid in [(0, False), (1, True), (5, True), (6, False)]:
            example = event("RemoteRatingApplied", {**applied_example, "rating": stars})
            self.assertEqual(validator(applied).is_valid(example), valid, stars)

    def test_the_events_page_names_every_detail_type_and_its_schema(self):
        section = EVENTS_PAGE
        self.assertIn("draft 4", section)
        for name in self.names:
            with self.subTest(name):
                self.assertIn(f"`{name}`", section)
                self.assertIn(f"schemas/events/{name}.json", section)
                self.assertIn(f"`{event_source()}@{name}`", section)


if __name__ == "__main__":
    unittest.main()
