"""The events the sync really published, against the schemas the stack
registers.

tests/events.rs runs the sync on every path with an EventBridge bus whose
rule sends each event to an SQS queue, and keeps each event as the queue got
it, envelope and all, in target/published-events/ (or
$PUBLISHED_EVENTS_DIR). This validates each with a draft 4 validator against
its detail type's file under schemas/events/: the files template.yaml
registers in the schema registry (tests/checks/test_template.py holds the
two equal), so what a consumer's code bindings expect is what the sync
sends. Every detail type must have been seen.

One difference is moto's, not the sync's: moto's EventBridge delivers the
envelope without `account`, which EventBridge always sends (the account the
event was put in). The check puts moto's own account id there when it is
missing and changes nothing else.

Run after the integration tests (`make test` does):

    .venv/bin/python -m unittest tests/checks/test_published_events.py
"""

import json
import os
import pathlib
import sys
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import test_event_schemas as schemas  # noqa: E402

# The account moto runs as; EventBridge would have sent it.
MOTO_ACCOUNT = "123456789012"
RECORDS = pathlib.Path(
    os.environ.get("PUBLISHED_EVENTS_DIR", schemas.ROOT / "target" / "published-events")
)


class PublishedEvents(unittest.TestCase):
    def setUp(self):
        self.events = [
            json.loads(path.read_text(encoding="utf-8"))
            for path in sorted(RECORDS.glob("*.json"))
        ] if RECORDS.is_dir() else []
        self.assertTrue(self.events, f"no events in {RECORDS}: run the integration tests first")

    def test_every_published_event_validates_against_its_registered_schema(self):
        files = {path.stem: path for path in schemas.SCHEMAS.glob("*.json")}
        for event in self.events:
            detail_type = event.get("detail-type")
            event = {"account": MOTO_ACCOUNT, **event}
            with self.subTest(detail_type=detail_type, id=event.get("id")):
                self.assertIn(detail_type, files, f"an event of no schema: {event}")
                schema = json.loads(files[detail_type].read_text(encoding="utf-8"))
                errors = [e.message for e in schemas.validator(schema).iter_errors(event)]
                self.assertEqual(errors, [], json.dumps(event, indent=2))

    def test_every_detail_type_was_published(self):
        seen = {event.get("detail-type") for event in self.events}
        files = {path.stem for path in schemas.SCHEMAS.glob("*.json")}
        self.assertEqual(files - seen, set(), "detail types the integration tests never saw")


if __name__ == "__main__":
    unittest.main()
