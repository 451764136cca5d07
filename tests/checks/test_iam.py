"""template.yaml's DynamoDB permissions against what each function did.

Moto does not enforce IAM, so a policy that lacks an action, an index or a
partition of the state table would pass every integration test and fail in
AWS. The integration tests record every DynamoDB request a function's client
sends (tests/support/access.rs) in target/dynamodb-access/ (or
$DYNAMODB_ACCESS_DIR), one JSON line each: {"function", "operation",
"table", "index", "pk"}. This checks, function by function, that

* every recorded request is allowed by one of the function's statements: the
  action, the table or index as resource, and the `dynamodb:LeadingKeys`
  condition where there is one (the request's `pk`);
* every (action, resource) a statement grants was used by some request, and
  every partition a LeadingKeys condition lists was touched: nothing granted
  that the function does not need;
* every function of the template that has DynamoDB rights was seen, and no
  other (the admin API's authorizer has none and sends nothing).

The mapping of the recorder's table names to the template's tables is
checked without records.

Run after the integration tests (`make test` does):

    .venv/bin/python -m unittest tests/checks/test_iam.py
"""

import json
import os
import pathlib
import sys
import unittest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))
import test_template as template  # noqa: E402

RECORDS = pathlib.Path(
    os.environ.get("DYNAMODB_ACCESS_DIR", template.ROOT / "target" / "dynamodb-access")
)
# The recorder's names for the tables, and the template's resources.
TABLES = {
    "ratings": "RatingsTable",
    "failed_uploads": "FailedUploadsTable",
    "sync_state": "SyncStateTable",
    "audit": "AuditTable",
}


def load_records():
    records = set()
    if RECORDS.is_dir():
        for path in sorted(RECORDS.glob("*.jsonl")):
            for line in path.read_text(encoding="utf-8").splitlines():
                record = json.loads(line)
                records.add(
                    (record["function"], record["operation"], record["table"],
                     record["index"], record["pk"])
                )
    return records


def resource_of(resource):
    """(logical table, index or None) that a statement's resource names."""
    if "Fn::GetAtt" in resource:
        target = resource["Fn::GetAtt"]
        logical = target.split(".")[0] if isinstance(target, str) else target[0]
        return logical, None
    text = resource["Fn::Sub"]
    head, _, index = text.partition("/index/")
    return head.removeprefix("${").removesuffix(".Arn}"), index


def dynamodb_statements(function):
    """The function's DynamoDB statements, each as a list of grants
    (action, table, index, partitions or None). The stream reads are the
    event source mapping's, not requests of the function's client: left
    out (test_template.py checks they name the function's stream)."""
    found = []
    for statement in template.statements(function):
        actions = [
            a for a in template.as_list(statement["Action"])
            if a.startswith("dynamodb:") and a not in template.STREAM_ACTIONS
        ]
        if not actions:
            continue
        condition = statement.get("Condition", {})
        partitions = None
        if condition:
            # The only condition this template uses.
            (operator,) = condition
            assert operator == "ForAllValues:StringEquals", operator
            (key,) = condition[operator]
            assert key == "dynamodb:LeadingKeys", key
            partitions = frozenset(condition[operator][key])
        grants = []
        for action in actions:
            for resource in template.as_list(statement["Resource"]):
                table, index = resource_of(resource)
                grants.append((action.removeprefix("dynamodb:"), table, index, partitions))
        found.append(grants)
    return found


def dynamodb_grants(function):
    return [grant for grants in dynamodb_statements(function) for grant in grants]


def allows(grant, record):
    action, table, index, partitions = grant
    _, operation, record_table, record_index, pk = record
    if (action, table, index) != (operation, TABLES.get(record_table), record_index):
        return False
    return partitions is None or pk in partitions


class Mapping(unittest.TestCase):
    """Needs no records."""

    def test_the_recorder_names_every_table_of_the_template(self):
        self.assertEqual(len(set(TABLES.values())), len(TABLES), "two names for one table")
        self.assertEqual(set(TABLES.values()), set(template.TABLES))

    def test_every_dynamodb_grant_names_a_mapped_table(self):
        for name, function in template.FUNCTIONS.items():
            for action, table, index, partitions in dynamodb_grants(function):
                with self.subTest(function=name, action=action):
                    self.assertIn(table, TABLES.values())

    def test_only_the_authorizer_has_no_dynamodb_right(self):
        without = {
            template.binary(f) for f in template.FUNCTIONS.values() if not dynamodb_grants(f)
        }
        self.assertEqual(without, {"admin-authorizer"})


class Permissions(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.records = load_records()
        cls.functions = {template.binary(f): f for f in template.FUNCTIONS.values()}

    def test_every_function_was_seen(self):
        self.assertTrue(self.records, f"no records in {RECORDS}: run the integration tests first")
        seen = {record[0] for record in self.records}
        # A function without DynamoDB rights (the authorizer) sends no
        # request, so it has no records; one that has records needs rights.
        sending = {name for name, f in self.functions.items() if dynamodb_grants(f)}
        self.assertEqual(seen, sending)

    def test_every_request_is_allowed(self):
        for record in sorted(self.records, key=str):
            with self.subTest(record=record):
                function = self.functions[record[0]]
                self.assertNotIn("unknown", record[2], "a table the template does not define")
                self.assertTrue(
                    any(allows(grant, record) for grant in dynamodb_grants(function)),
                    "not granted",
                )

    def test_nothing_is_granted_that_was_not_used(self):
        for name, function in self.functions.items():
            done = [r for r in self.records if r[0] == name]
            for grants in dynamodb_statements(function):
                for grant in grants:
                    with self.subTest(function=name, grant=grant):
                        self.assertTrue(
                            any(allows(grant, r) for r in done), "granted, never used"
                        )
                partitions = grants[0][3]
                if partitions is not None:
                    with self.subTest(function=name, partitions=sorted(partitions)):
                        touched = {r[4] for r in done if any(allows(g, r) for g in grants)}
                        self.assertEqual(touched, set(partitions), "partitions listed vs touched")


if __name__ == "__main__":
    unittest.main()
