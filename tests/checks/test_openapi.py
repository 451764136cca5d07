"""openapi.yaml against the admin API's real answers.

The integration tests of the admin API (tests/admin_*.rs) write every answer
a handler gave them to target/admin-api-responses/ (or
$ADMIN_API_RESPONSES_DIR), one JSON file each: {"method", "path", "status",
"body"}. This checks that

* openapi.yaml is a valid OpenAPI 3.1 document;
* it describes exactly the routes template.yaml gives the HTTP API;
* every recorded answer's status is documented for its operation, and its
  body validates against the documented schema (JSON Schema 2020-12, the
  dialect of OpenAPI 3.1);
* the recorded answers cover the spec: each operation's 200, 400, 401 and
  403, and every status the spec documents anywhere.

Run after the integration tests (`make test` does):

    .venv/bin/python -m unittest tests/checks/test_openapi.py
"""

import json
import os
import pathlib
import unittest
from urllib.parse import quote

import yaml
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

ROOT = pathlib.Path(__file__).resolve().parents[2]
SPEC_PATH = ROOT / "openapi.yaml"
TEMPLATE_PATH = ROOT / "template.yaml"
RESPONSES = pathlib.Path(
    os.environ.get("ADMIN_API_RESPONSES_DIR", ROOT / "target" / "admin-api-responses")
)
SPEC_URI = "urn:atom-rating-sync:openapi"
METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}
# Every operation must be seen answering these.
REQUIRED_STATUSES = {"200", "400", "401", "403"}


def load_spec():
    with open(SPEC_PATH, encoding="utf-8") as f:
        return yaml.safe_load(f)


def load_responses():
    if not RESPONSES.is_dir():
        return []
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(RESPONSES.glob("*.json"))]


def pointer(*segments):
    """A JSON pointer to segments, as a URI fragment."""
    escaped = (s.replace("~", "~0").replace("/", "~1") for s in segments)
    return quote("/" + "/".join(escaped), safe="/~")


def resolve(spec, node):
    """Follows a local $ref (responses are often references)."""
    while isinstance(node, dict) and "$ref" in node:
        target = spec
        for part in node["$ref"].lstrip("#/").split("/"):
            target = target[part.replace("~1", "/").replace("~0", "~")]
        node = target
    return node


class OpenApiTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.spec = load_spec()
        cls.registry = Registry().with_resource(
            SPEC_URI, Resource.from_contents(cls.spec, default_specification=DRAFT202012)
        )

    def operations(self):
        for path, item in self.spec["paths"].items():
            for method in METHODS & set(item):
                yield path, method, item[method]

    def test_the_spec_is_valid_openapi_3_1(self):
        self.assertTrue(self.spec["openapi"].startswith("3.1"))
        validate_spec(self.spec)

    def test_the_spec_describes_exactly_the_routes_of_the_template(self):
        with open(TEMPLATE_PATH, encoding="utf-8") as f:
            template = yaml.safe_load(f)
        routes = set()
        for resource in template["Resources"].values():
            if resource.get("Type") != "AWS::Serverless::Function":
                continue
            for event in resource["Properties"].get("Events", {}).values():
                if event.get("Type") == "HttpApi":
                    routes.add((event["Properties"]["Method"].lower(), event["Properties"]["Path"]))
        documented = {(method, path) for path, method, _ in self.operations()}
        self.assertEqual(documented, routes)

    def test_every_recorded_answer_matches_the_spec(self):
        answers = load_responses()
        self.assertTrue(
            answers,
            f"no recorded answers in {RESPONSES}: run the integration tests first "
            "(infra/scripts/with-local-stack.sh cargo test -p integration-tests --test 'admin_*')",
        )
        failures = []
        for answer in answers:
            where = f"{answer['method'].upper()} {answer['path']} {answer['status']}"
            operation = self.spec["paths"].get(answer["path"], {}).get(answer["method"])
            if operation is None:
                failures.append(f"{where}: no such operation in openapi.yaml")
                continue
            status = str(answer["status"])
            if status not in operation["responses"]:
                failures.append(f"{where}: status not documented")
                continue
            response = resolve(self.spec, operation["responses"][status])
            if "application/json" not in response.get("content", {}):
                failures.append(f"{where}: no JSON body documented")
                continue
            schema_ref = SPEC_URI + "#" + pointer(
                *self.location(answer["path"], answer["method"], status), "content",
                "application/json", "schema",
            )
            validator = Draft202012Validator({"$ref": schema_ref}, registry=self.registry)
            for error in validator.iter_errors(answer["body"]):
                path = "/".join(str(p) for p in error.absolute_path)
                failures.append(f"{where}: at /{path}: {error.message} (body: {json.dumps(answer['body'])[:300]})")
        self.assertEqual(failures, [], "\n".join(failures[:20]))

    def location(self, path, method, status):
        """Where the response object lives: under the operation, or in
        components when the operation refers to it."""
        node = self.spec["paths"][path][method]["responses"][status]
        if "$ref" in node:
            return node["$ref"].lstrip("#/").split("/")
        return ["paths", path, method, "responses", status]

    def test_the_recorded_answers_cover_the_spec(self):
        answers = load_responses()
        seen = {(a["method"], a["path"], str(a["status"])) for a in answers}
        missing = []
        documented_statuses = set()
        for path, method, operation in self.operations():
            documented_statuses |= set(operation["responses"])
            for status in REQUIRED_STATUSES:
                if (method, path, status) not in seen:
                    missing.append(f"{method.upper()} {path} {status}")
        seen_statuses = {status for _, _, status in seen}
        for status in sorted(documented_statuses - seen_statuses):
            missing.append(f"any operation {status}")
        self.assertEqual(missing, [], "documented but never seen in a test")


if __name__ == "__main__":
    unittest.main()
