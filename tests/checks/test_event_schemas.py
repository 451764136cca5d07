"""schemas/events/*.json, the contract of the sync's EventBridge events.

The Rust unit tests (shared/src/events/schema_tests.rs) hold each event's
`detail` equal, key for key, to its schema's `examples`: [0] with every
optional field, [1] with none. This checks the other half, that

* each schema is a valid JSON Schema 2020-12 document of an object that
  allows no other property, describes every property and requires only
  properties it defines;
* its examples validate against it, dates checked as RFC 3339;
* it refuses what the code never writes: an unknown field, a missing
  required field, a `null`, a value of another type or outside its enum,
  an error longer than 1,000 characters, a time that is not RFC 3339;
* the schema files are the detail types the code publishes, and the events
  page (docs/events.md) names each one.

    .venv/bin/python -m unittest tests/checks/test_event_schemas.py
"""

import copy
import json
import pathlib
import re
import unittest

from jsonschema import Draft202012Validator

ROOT = pathlib.Path(__file__).resolve().parents[2]
SCHEMAS = ROOT / "schemas" / "events"
EVENTS_PAGE = (ROOT / "docs" / "events.md").read_text(encoding="utf-8")
EVENTS_SOURCE = (ROOT / "shared" / "src" / "events" / "mod.rs").read_text(encoding="utf-8")


def detail_types():
    """DETAIL_TYPES of shared/src/events/mod.rs."""
    block = re.search(r"pub const DETAIL_TYPES: \[&str; \d+\] = \[(.*?)\];", EVENTS_SOURCE, re.DOTALL)
    return re.findall(r'"(\w+)"', block.group(1))


def load(name):
    return json.loads((SCHEMAS / f"{name}.json").read_text(encoding="utf-8"))


def validator(schema):
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


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

    def test_each_schema_is_a_closed_described_2020_12_object(self):
        for name in self.names:
            with self.subTest(name):
                schema = load(name)
                Draft202012Validator.check_schema(schema)
                self.assertEqual(schema["$schema"], "https://json-schema.org/draft/2020-12/schema")
                self.assertEqual(schema["type"], "object")
                self.assertIs(schema["additionalProperties"], False)
                self.assertIn(name, schema["description"])
                properties = schema["properties"]
                self.assertLessEqual(set(schema["required"]), set(properties))
                self.assertEqual(len(schema["required"]), len(set(schema["required"])))
                for field, spec in properties.items():
                    self.assertTrue(spec.get("description", "").strip(), f"{name}.{field}")
                    self.assertIn(spec.get("type"), {"string", "integer", "number", "boolean"})

    def test_the_examples_validate_one_full_one_minimal(self):
        for name in self.names:
            with self.subTest(name):
                schema = load(name)
                full, minimal = schema["examples"]
                validator(schema).validate(full)
                validator(schema).validate(minimal)
                self.assertEqual(set(full), set(schema["properties"]))
                self.assertEqual(set(minimal), set(schema["required"]))

    def test_what_the_code_never_writes_is_refused(self):
        for name in self.names:
            schema = load(name)
            check = validator(schema)
            full = schema["examples"][0]
            with self.subTest(name, case="unknown field"):
                self.assertFalse(check.is_valid({**full, "review": "five stars"}))
            for field in schema["required"]:
                with self.subTest(name, case=f"without {field}"):
                    self.assertFalse(check.is_valid({k: v for k, v in full.items() if k != field}))
            for field, spec in schema["properties"].items():
                with self.subTest(name, case=f"{field} null"):
                    self.assertFalse(check.is_valid({**full, field: None}))
                with self.subTest(name, case=f"{field} of another type"):
                    self.assertFalse(check.is_valid({**full, field: wrong_type_value(spec)}))
                if "enum" in spec:
                    with self.subTest(name, case=f"{field} outside its enum"):
                        self.assertFalse(check.is_valid({**full, field: "FastPath"}))
                if spec.get("format") == "date-time":
                    with self.subTest(name, case=f"{field} not RFC 3339"):
                        self.assertFalse(check.is_valid({**full, field: "29/11/2026 09:00"}))
                if "maxLength" in spec:
                    self.assertEqual(spec["maxLength"], 1000, f"{name}.{field}")
                    with self.subTest(name, case=f"{field} too long"):
                        at_limit = copy.deepcopy(full)
                        at_limit[field] = "é" * 1000
                        self.assertTrue(check.is_valid(at_limit))
                        self.assertFalse(check.is_valid({**full, field: "é" * 1001}))

    def test_counts_are_not_negative_and_stars_are_one_to_five(self):
        run = load("SyncRunCompleted")
        check = validator(run)
        for field, spec in run["properties"].items():
            if spec["type"] == "integer":
                with self.subTest(field):
                    self.assertFalse(check.is_valid({**run["examples"][0], field: -1}))
        applied = load("RemoteRatingApplied")
        for stars, valid in [(0, False), (1, True), (5, True), (6, False)]:
            example = {**applied["examples"][0], "rating": stars}
            self.assertEqual(validator(applied).is_valid(example), valid, stars)

    def test_the_events_page_names_every_detail_type_and_its_schema(self):
        section = EVENTS_PAGE
        for name in self.names:
            with self.subTest(name):
                self.assertIn(f"`{name}`", section)
                self.assertIn(f"schemas/events/{name}.json", section)


if __name__ == "__main__":
    unittest.main()
