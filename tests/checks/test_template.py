"""template.yaml checked against the code, CloudWatch's limits and the docs.

cfn-lint and `sam validate --lint` check that the template is well formed;
these tests check what they cannot know:

* every function is built by cargo-lambda for provided.al2023 on arm64, with
  timeouts that fit its trigger, and the schedule follows its parameter;
* the public edge: every route of the admin API is behind the Lambda
  authorizer, has its own throttle, and is access-logged as JSON; refused
  requests (401, 403) are counted and alarmed; the admin functions have
  reserved concurrency; the authorizer has no DynamoDB right at all;
* the audit trail is a table of its own, expired by TTL, that the admin
  functions may only add items to;
* no secret value is configuration: the functions get `*_SECRET_ARN`
  variables only, and each may read exactly the secrets its `main.rs` loads
  through the trigger's `run` it calls (a `Config` needs the marketplace
  token, an `AdminConfig` the admin secret);
* IAM has no wildcard, DynamoDB rights name the template's tables and
  indexes, and the rights granted are the operations `shared/src/store` sends;
* every alarm is one CloudWatch accepts for every allowed parameter value
  (period times evaluation periods: at most one day under an hour's period,
  seven days otherwise), and watches metrics the code emits or a metric
  filter of the template makes; the
  no-successful-run alarm holds for every interval, and the not-running one
  looks back over two of the longest;
* the dashboard body is JSON and shows every alarm, with the fast path on
  and off;
* the fast path (EnableFastPath): the ratings table's stream drives
  stream-rating-sync with partial batch responses, bisect, bounded retries
  and record age, an SQS on-failure destination that is alarmed, and a filter
  that lets pending ratings through and nothing else (evaluated on sample
  records); everything of it carries FastPathEnabled, so with it off the
  stack has no stream, function, mapping or queue and no reference to them
  (the conditions are evaluated), and the runs get a grace of 0;
* events go to the EventBusName bus only, under the code's source;
* the event schema registry (RegisterEventSchemas, on by default): a
  registry named after the stack and one JSONSchemaDraft4 schema,
  `source@DetailType`, per file of schemas/events/ and no other, whose
  Content is the file's text as it is (written by
  infra/scripts/event_schemas.py --write), all under its condition;
* SAM's implicit grants are the known ones (AWSLambdaBasicExecutionRole on
  the roles it builds), and no function has AWSLambdaDynamoDBExecutionRole:
  the stream function has a role of the template's, whose stream rights
  name the ratings table's stream, whose logs are its own log group and
  whose SQS right is its on-failure queue;
* the configuration tables (docs/configuration.md) list every environment
  variable the code reads or the template sets, and every parameter with its
  default; the runbook (docs/operating.md) has a row for the throttle alarm.

The template is read with a plain YAML parser: it is written in long-form
intrinsics (`Ref:`, `Fn::Sub:`), never `!Ref`.
"""

import importlib.util
import json
import pathlib
import re
import unittest

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATE = yaml.safe_load((ROOT / "template.yaml").read_text())
RESOURCES = TEMPLATE["Resources"]
PARAMETERS = TEMPLATE["Parameters"]
GLOBAL_FUNCTION = TEMPLATE["Globals"]["Function"]
CONFIGURATION = (ROOT / "docs" / "configuration.md").read_text()
OPERATING = (ROOT / "docs" / "operating.md").read_text()

# The API Gateway HTTP API answers 503 after 30 s, whatever the function does.
HTTP_API_TIMEOUT_SECONDS = 30
# API Gateway waits this long for a Lambda authorizer's answer (HTTP API quota).
AUTHORIZER_TIMEOUT_SECONDS = 10
# The longest an HTTP API may cache an authorizer's answer.
AUTHORIZER_MAX_CACHE_SECONDS = 3600
# Lambda's longest timeout, which the scheduled run uses whole.
LAMBDA_MAX_TIMEOUT_SECONDS = 900


def rust_source(path):
    """The file without its `#[cfg(test)]` module; for a folder, every
    `.rs` file in it so."""
    target = ROOT / path
    if target.is_dir():
        return "\n".join(rust_source(p.relative_to(ROOT)) for p in sorted(target.rglob("*.rs")))
    return target.read_text().split("#[cfg(test)]")[0]


def of_type(kind):
    return {name: r for name, r in RESOURCES.items() if r["Type"] == kind}


FUNCTIONS = of_type("AWS::Serverless::Function")
ALARMS = of_type("AWS::CloudWatch::Alarm")
TABLES = of_type("AWS::DynamoDB::Table")
METRIC_FILTERS = of_type("AWS::Logs::MetricFilter")
ADMIN_API = RESOURCES["AdminHttpApi"]["Properties"]
# The JWT claim checks every admin token goes through, by the authorizer and
# again by each admin function.
JWT_SETTINGS = {
    "ADMIN_JWT_ISSUER": {"Ref": "AdminJwtIssuer"},
    "ADMIN_JWT_AUDIENCE": {"Ref": "AdminJwtAudience"},
    "ADMIN_JWT_MAX_TTL_SECONDS": {"Ref": "AdminJwtMaxTtlSeconds"},
}


def configs_built(source):
    """Which configurations `source` builds: "" for Config (the sync's, it
    holds the marketplace token), "Admin" for AdminConfig (the admin secret),
    each built by load, from_environment or from_env, directly, through a
    trigger's `run` (`shared::triggers::schedule::run()`), or through the
    admin API's loaders (`AdminContext::load`, `SyncApi::load`)."""
    built = set(re.findall(r"\b(Admin)?Config::(?:load|from_environment|from_env)\(", source))
    # A function whose main is `shared::triggers::<module>::run()` builds
    # what that module's run builds.
    for module in re.findall(r"shared::triggers::((?:\w+::)*\w+)::run\(\)", source):
        built |= configs_built(rust_source(f"shared/src/triggers/{module.replace('::', '/')}.rs"))
    api = rust_source("shared/src/triggers/http")
    loaders = set(re.findall(r"\b(AdminContext|SyncApi)::load\(", source))
    # A function served by `shared::triggers::http::run::<module::Endpoint>`
    # (written over lines as rustfmt puts it) loads the endpoint's State.
    for module in re.findall(r"run::<\s*shared::triggers::http::(\w+)::\w+,?\s*>", source):
        state = re.search(
            r"type State = (\w+);", rust_source(f"shared/src/triggers/http/{module}.rs")
        )
        loaders.add(state.group(1))
    for loader in loaders:
        body = re.search(
            rf"impl {loader} {{.*?pub async fn load\(.*?\n    }}\n", api, re.DOTALL
        )
        built |= configs_built(body.group(0))
    return built


def binary(function):
    return function["Metadata"]["BuildProperties"]["Binary"]


def environment(function):
    merged = dict(GLOBAL_FUNCTION.get("Environment", {}).get("Variables", {}))
    merged.update(function["Properties"].get("Environment", {}).get("Variables", {}))
    return merged


def role_of(function):
    """The template's IAM role that `function` names in `Role`, or None: SAM
    then builds one from its Policies."""
    role = function["Properties"].get("Role")
    if role is None:
        return None
    logical, attribute = role["Fn::GetAtt"].split(".")
    assert attribute == "Arn", role
    return RESOURCES[logical]


def statements(function):
    """The function's statements: its Policies, or its own role's."""
    found = []
    for policy in function["Properties"].get("Policies", []):
        found.extend(policy["Statement"])
    role = role_of(function)
    if role is not None:
        for policy in role["Properties"].get("Policies", []):
            found.extend(policy["PolicyDocument"]["Statement"])
    return found


# What Lambda's event source mapping needs to read a DynamoDB stream, on the
# function's role: the poller's requests, not the function's.
STREAM_ACTIONS = {
    "dynamodb:DescribeStream",
    "dynamodb:GetRecords",
    "dynamodb:GetShardIterator",
    "dynamodb:ListStreams",
}


def stream_statements(function):
    return [s for s in statements(function) if set(as_list(s["Action"])) & STREAM_ACTIONS]


def as_list(value):
    return value if isinstance(value, list) else [value]


def event_types(function):
    return {e["Type"] for e in function["Properties"].get("Events", {}).values()}


def authorizer_functions():
    """The functions the admin API's authorizers run: logical id -> authorizer name."""
    found = {}
    for name, authorizer in ADMIN_API.get("Auth", {}).get("Authorizers", {}).items():
        target = authorizer["FunctionArn"]["Fn::GetAtt"]
        logical, attribute = target.split(".") if isinstance(target, str) else target
        assert attribute == "Arn", target
        found[logical] = name
    return found


def admin_functions():
    """The functions behind the admin API's routes."""
    return {n: f for n, f in FUNCTIONS.items() if "HttpApi" in event_types(f)}


def http_api_routes():
    """(function, event name, event properties, route key) of every HttpApi event."""
    for name, function in FUNCTIONS.items():
        for event_name, event in function["Properties"].get("Events", {}).items():
            if event["Type"] == "HttpApi":
                properties = event["Properties"]
                key = f"{properties['Method'].upper()} {properties['Path']}"
                yield name, event_name, properties, key


def metric_filter_metrics():
    """The metrics the template's metric filters make: {(namespace, name): filter}."""
    found = {}
    for filter_name, metric_filter in METRIC_FILTERS.items():
        for transformation in metric_filter["Properties"]["MetricTransformations"]:
            namespace = json.dumps(transformation["MetricNamespace"], sort_keys=True)
            found[(namespace, transformation["MetricName"])] = filter_name
    return found


def filter_metric_names():
    """The names of the metrics the metric filters put in MetricsNamespace."""
    namespace = json.dumps({"Ref": "MetricsNamespace"})
    return {name for (ns, name) in metric_filter_metrics() if ns == namespace}


def table_of(resource):
    """The logical table a statement's resource names (its ARN or one of its
    indexes), or None."""
    if not isinstance(resource, dict):
        return None
    if "Fn::GetAtt" in resource:
        target = resource["Fn::GetAtt"]
        return target.split(".")[0] if isinstance(target, str) else target[0]
    match = re.match(r"\$\{(\w+)\.Arn\}", resource.get("Fn::Sub", ""))
    return match.group(1) if match else None


def dynamodb_grants_on(function, table):
    """The DynamoDB actions of the function's statements that name the table."""
    actions = []
    for statement in statements(function):
        if any(table_of(r) == table for r in as_list(statement["Resource"])):
            actions.extend(a for a in as_list(statement["Action"]) if a.startswith("dynamodb:"))
    return actions


def setting_entries():
    """The entries of the catalogue, shared/src/config/settings.rs, as
    {variable: {"kind": kind, field: value as written}}."""
    source = rust_source("shared/src/config/settings.rs")
    entries = {}
    for kind, body in re.findall(r"^    [A-Z0-9_]+: (\w+)(?:<\w+>)? \{\n(.*?)^    \}", source, re.MULTILINE | re.DOTALL):
        fields = dict(re.findall(r'(\w+): ("(?:[^"\\]|\\.)*"|[^,]+),', body))
        entries[fields["name"].strip('"')] = {"kind": kind} | fields
    return entries


def setting_default(name):
    """The default of the entry of `name`, as written (a number's
    underscores dropped, a text's quotes too)."""
    return setting_entries()[name]["default"].strip('"').replace("_", "")


def secret_settings():
    """The SecretSetting entries of the catalogue: the settings that may
    come from Secrets Manager."""
    return [name for name, entry in setting_entries().items() if entry["kind"] == "SecretSetting"]


def emitted_metrics():
    """The metric names of the EMF line (shared/src/metrics.rs)."""
    source = rust_source("shared/src/metrics.rs")
    return set(re.findall(r'\("([A-Za-z]+)", "(?:Count|Milliseconds|Seconds)"', source))


def metric_function_dimensions():
    """The values of the Function dimension: the FUNCTION constants of the
    code that emits the metrics (the triggers' adapters, and any function
    crate)."""
    values = set()
    paths = sorted(p.relative_to(ROOT) for p in (ROOT / "functions").glob("*/src/main.rs"))
    for path in paths + [pathlib.Path("shared/src/triggers")]:
        values.update(re.findall(r'const FUNCTION: &str = "([a-z-]+)"', rust_source(path)))
    return values


# Conditions, evaluated: a tiny resolver for what this template uses
# (Fn::Equals and Fn::Not of Refs to parameters, Fn::If, AWS::NoValue, and
# a Condition on resources and outputs). Other intrinsics stay as they are.
NO_VALUE = {"Ref": "AWS::NoValue"}


def condition_values(**parameters):
    """Every condition of the template, for the parameters' defaults
    overridden by `parameters`."""
    values = {name: str(p.get("Default", "")) for name, p in PARAMETERS.items()}
    values.update({name: str(value) for name, value in parameters.items()})

    def evaluate(expression):
        if isinstance(expression, dict):
            ((function, arguments),) = expression.items()
            if function == "Ref":
                return values[arguments]
            if function == "Fn::Equals":
                left, right = (evaluate(a) for a in arguments)
                return str(left) == str(right)
            if function == "Fn::Not":
                return not evaluate(arguments[0])
            if function == "Condition":
                return evaluate(TEMPLATE["Conditions"][arguments])
            raise AssertionError(f"the resolver does not know {function}")
        return expression

    return {name: evaluate(c) for name, c in TEMPLATE["Conditions"].items()}


def resolve(node, conditions):
    """`node` with every Fn::If replaced by its branch and AWS::NoValue
    dropped."""
    if isinstance(node, dict):
        if set(node) == {"Fn::If"}:
            name, when_true, when_false = node["Fn::If"]
            return resolve(when_true if conditions[name] else when_false, conditions)
        resolved = {k: resolve(v, conditions) for k, v in node.items()}
        return {k: v for k, v in resolved.items() if v != NO_VALUE}
    if isinstance(node, list):
        resolved = [resolve(v, conditions) for v in node]
        return [v for v in resolved if v != NO_VALUE]
    return node


def deployed(**parameters):
    """(resources, outputs) CloudFormation creates for these parameters."""
    conditions = condition_values(**parameters)

    def exists(item):
        return conditions[item["Condition"]] if "Condition" in item else True

    def kept(section):
        return {name: resolve(item, conditions) for name, item in section.items() if exists(item)}

    return kept(RESOURCES), kept(TEMPLATE["Outputs"])


def references(node):
    """Every (logical id, attribute or None) that `node` refers to: Ref,
    Fn::GetAtt, and the ${...} of Fn::Sub (less its own variables)."""
    found = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref":
                found.add((value, None))
            elif key == "Fn::GetAtt":
                name, attribute = value.split(".", 1) if isinstance(value, str) else value
                found.add((name, attribute))
            elif key == "Fn::Sub":
                text, variables = (value, {}) if isinstance(value, str) else value
                for ref in re.findall(r"\$\{([\w:.]+)\}", text):
                    name, _, attribute = ref.partition(".")
                    if name not in variables:
                        found.add((name, attribute or None))
                found |= references(variables)
            else:
                found |= references(value)
    elif isinstance(node, list):
        for value in node:
            found |= references(value)
    return found


def dangling(resources, outputs):
    """References to what these resources do not have: a resource or
    parameter that is not there, or the stream of a table without one."""
    missing = set()
    for holder, body in list(resources.items()) + list(outputs.items()):
        for name, attribute in references(body):
            if name.startswith("AWS::") or name in PARAMETERS:
                continue
            if name not in resources:
                missing.add((holder, name))
            elif attribute == "StreamArn" and "StreamSpecification" not in resources[name]["Properties"]:
                missing.add((holder, f"{name}.StreamArn"))
    return missing


def matches(pattern, event):
    """Whether an event matches a Lambda / EventBridge filter pattern of the
    exact-value subset: objects nest, a list holds the accepted values of a
    field (any one, or any shared with an array value). Content filters
    (prefix, numeric, exists, ...) are refused rather than guessed."""
    if isinstance(pattern, dict):
        return isinstance(event, dict) and all(
            key in event and matches(value, event[key]) for key, value in pattern.items()
        )
    assert isinstance(pattern, list), f"a pattern leaf must be a list: {pattern!r}"
    for accepted in pattern:
        assert not isinstance(accepted, (dict, list)), f"content filter {accepted!r} not supported"
    values = event if isinstance(event, list) else [event]
    return any(value in pattern for value in values)


def parameter_range(value):
    """(smallest, largest) a number in the template can be: itself, or the
    bounds of the parameter it refers to."""
    if isinstance(value, dict):
        parameter = PARAMETERS[value["Ref"]]
        if "AllowedValues" in parameter:
            allowed = [int(v) for v in parameter["AllowedValues"]]
            return min(allowed), max(allowed)
        return int(parameter["MinValue"]), int(parameter["MaxValue"])
    return int(value), int(value)


class Functions(unittest.TestCase):
    def test_every_function_is_built_by_cargo_lambda_for_al2023_on_arm64(self):
        self.assertEqual(GLOBAL_FUNCTION["Runtime"], "provided.al2023")
        self.assertEqual(GLOBAL_FUNCTION["Architectures"], ["arm64"])
        self.assertEqual(GLOBAL_FUNCTION["Handler"], "bootstrap")
        # Five, the scheduled function and the fast path's.
        self.assertEqual(len(FUNCTIONS), 7)
        for name, function in FUNCTIONS.items():
            with self.subTest(name):
                self.assertEqual(function["Metadata"]["BuildMethod"], "rust-cargolambda")
                self.assertTrue((ROOT / "functions" / binary(function) / "src/main.rs").exists())
                properties = function["Properties"]
                for key in ["Runtime", "Architectures", "Handler"]:
                    self.assertNotIn(key, properties, "set once, in Globals")
                self.assertEqual(properties["CodeUri"], ".", "built in the workspace")

    def test_timeouts_fit_the_trigger(self):
        for name, function in FUNCTIONS.items():
            with self.subTest(name):
                timeout = function["Properties"]["Timeout"]
                env = environment(function)
                if "HttpApi" in event_types(function):
                    self.assertLess(timeout, HTTP_API_TIMEOUT_SECONDS)
                elif name in authorizer_functions():
                    # API Gateway answers 500 when the authorizer is slower.
                    self.assertEqual(event_types(function), set())
                    self.assertLess(timeout, AUTHORIZER_TIMEOUT_SECONDS)
                elif "DynamoDB" in event_types(function):
                    self.assertEqual(event_types(function), {"DynamoDB"})
                    (event,) = function["Properties"]["Events"].values()
                    mapping = event["Properties"]
                    # Every attempt (the first and each retry) can run to
                    # its timeout before the records are too old to retry.
                    attempts = mapping["MaximumRetryAttempts"] + 1
                    self.assertLessEqual(attempts * timeout, mapping["MaximumRecordAgeInSeconds"])
                    # The run's own deadline leaves room for one request.
                    margin = int(env.get("RATING_SYNC_DEADLINE_MARGIN_SECONDS", 20))
                    request = int(env.get("ATOM_SAAS_TIMEOUT_SECONDS", 10))
                    self.assertGreater(margin, request)
                    self.assertLess(margin, timeout)
                else:
                    self.assertEqual(event_types(function), {"Schedule"})
                    self.assertEqual(timeout, LAMBDA_MAX_TIMEOUT_SECONDS)
                # A run stops starting uploads this long before its deadline,
                # which must leave room for one whole request.
                if "RATING_SYNC_DEADLINE_MARGIN_SECONDS" in env:
                    margin = int(env["RATING_SYNC_DEADLINE_MARGIN_SECONDS"])
                    request = int(env.get("ATOM_SAAS_TIMEOUT_SECONDS", 10))
                    self.assertGreater(margin, request)
                    self.assertLess(margin, timeout)

    def test_the_schedule_and_the_function_get_the_interval_parameter(self):
        interval = PARAMETERS["RatingSyncIntervalMinutes"]
        self.assertEqual((interval["Default"], interval["MinValue"]), (30, 5))
        scheduled = [f for f in FUNCTIONS.values() if "Schedule" in event_types(f)]
        self.assertEqual(len(scheduled), 1)
        (function,) = scheduled
        (event,) = function["Properties"]["Events"].values()
        self.assertEqual(
            event["Properties"]["Schedule"],
            {"Fn::Sub": "rate(${RatingSyncIntervalMinutes} minutes)"},
        )
        self.assertEqual(
            environment(function)["RATING_SYNC_INTERVAL_MINUTES"],
            {"Ref": "RatingSyncIntervalMinutes"},
        )

    def test_the_metrics_namespace_reaches_the_functions_that_emit_metrics(self):
        self.assertEqual(PARAMETERS["MetricsNamespace"]["Default"], "AtomRatingSync")
        self.assertEqual(setting_default("RATING_SYNC_METRICS_NAMESPACE"), "AtomRatingSync")
        emitting = {
            n for n, f in FUNCTIONS.items() if binary(f) in metric_function_dimensions()
        }
        self.assertEqual(
            emitting,
            {"ScheduledRatingSyncFunction", "AdminSyncRatingsFunction", "StreamRatingSyncFunction"},
        )
        for name in emitting:
            self.assertEqual(
                environment(FUNCTIONS[name])["RATING_SYNC_METRICS_NAMESPACE"],
                {"Ref": "MetricsNamespace"},
            )


class Secrets(unittest.TestCase):
    TOKEN_ARN = {
        "Fn::If": [
            "CreateMarketplaceTokenSecret",
            {"Ref": "MarketplaceTokenSecret"},
            {"Ref": "AtomSaasApiTokenSecretArn"},
        ]
    }
    ADMIN_ARN = {"Ref": "AdminJwtSecret"}

    def test_no_secret_value_is_a_parameter_or_an_environment_variable(self):
        self.assertEqual(secret_settings(), ["ATOM_SAAS_API_TOKEN", "ADMIN_JWT_SECRET"])
        for name, parameter in PARAMETERS.items():
            self.assertNotIn("NoEcho", parameter, f"{name}: secrets live in Secrets Manager")
        for name, function in FUNCTIONS.items():
            for setting in secret_settings():
                self.assertNotIn(setting, environment(function), name)

    def test_the_secrets_are_secrets_manager_secrets(self):
        admin = RESOURCES["AdminJwtSecret"]
        self.assertEqual(admin["Type"], "AWS::SecretsManager::Secret")
        generated = admin["Properties"]["GenerateSecretString"]
        self.assertGreaterEqual(generated["PasswordLength"], 32, "MIN_ADMIN_SECRET_BYTES")
        self.assertIn(
            "MIN_ADMIN_SECRET_BYTES: usize = 32", rust_source("shared/src/config/admin.rs")
        )
        token = RESOURCES["MarketplaceTokenSecret"]
        self.assertEqual(token["Type"], "AWS::SecretsManager::Secret")
        self.assertEqual(token["Condition"], "CreateMarketplaceTokenSecret")
        # Created empty: the operator sets the value; the template never has it.
        self.assertNotIn("SecretString", token["Properties"])
        self.assertNotIn("GenerateSecretString", token["Properties"])
        self.assertEqual(PARAMETERS["AtomSaasApiTokenSecretArn"]["Default"], "")

    def test_each_function_may_read_exactly_the_secrets_it_loads(self):
        for name, function in FUNCTIONS.items():
            with self.subTest(name):
                built = configs_built(rust_source(f"functions/{binary(function)}/src/main.rs"))
                if name in authorizer_functions():
                    # It checks admin tokens, whatever loader it uses, and
                    # never sees the marketplace token.
                    self.assertNotIn("", built, "the authorizer loads the marketplace token")
                    built = {"Admin"}
                wanted = {}
                if "" in built:
                    wanted["ATOM_SAAS_API_TOKEN_SECRET_ARN"] = self.TOKEN_ARN
                if "Admin" in built:
                    wanted["ADMIN_JWT_SECRET_SECRET_ARN"] = self.ADMIN_ARN
                self.assertTrue(wanted)
                env = environment(function)
                given = {k: v for k, v in env.items() if k.endswith("_SECRET_ARN")}
                self.assertEqual(given, wanted)
                readable = [
                    resource
                    for statement in statements(function)
                    if "secretsmanager:GetSecretValue" in as_list(statement["Action"])
                    for resource in as_list(statement["Resource"])
                ]
                self.assertCountEqual(readable, list(wanted.values()))


class Permissions(unittest.TestCase):
    # What the X-Ray daemon beside a traced function needs; X-Ray's actions
    # take no resource but "*". The only statement allowed a wildcard.
    XRAY = {
        "Effect": "Allow",
        "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
        "Resource": "*",
    }

    def test_every_function_is_traced_and_may_send_its_traces(self):
        parameter = TEMPLATE["Parameters"]["Tracing"]
        self.assertEqual(parameter["Default"], "Active")
        self.assertEqual(set(parameter["AllowedValues"]), {"Active", "PassThrough"})
        self.assertEqual(TEMPLATE["Globals"]["Function"]["Tracing"], {"Ref": "Tracing"})
        for name, function in FUNCTIONS.items():
            with self.subTest(name):
                self.assertNotIn("Tracing", function["Properties"], "Globals decide")
                traces = [s for s in statements(function) if s == self.XRAY]
                self.assertEqual(len(traces), 1, "the X-Ray statement, once")
                wildcards = [
                    s for s in statements(function)
                    if any(a.startswith("xray:") for a in as_list(s["Action"]))
                ]
                self.assertEqual(wildcards, traces, "no other X-Ray right")

    def test_no_wildcard_and_no_broad_policy(self):
        for name, function in FUNCTIONS.items():
            for policy in function["Properties"].get("Policies", []):
                self.assertIsInstance(policy, dict, f"{name}: only inline statements")
                self.assertEqual(list(policy), ["Statement"], name)
            role = role_of(function)
            if role is not None:
                self.assertNotIn("Policies", function["Properties"], f"{name}: SAM would ignore them")
                for policy in role["Properties"]["Policies"]:
                    self.assertEqual(set(policy), {"PolicyName", "PolicyDocument"}, name)
            for statement in statements(function):
                self.assertEqual(statement["Effect"], "Allow")
                if statement == self.XRAY:
                    continue  # X-Ray has no resource-level permissions.
                for action in as_list(statement["Action"]):
                    self.assertNotIn("*", action, name)
                for resource in as_list(statement["Resource"]):
                    self.assertNotIn("*", json.dumps(resource), name)

    # Event types and the grants SAM adds to the role it builds for a
    # function (one without `Role`), outside its Policies; besides, SAM puts
    # AWSLambdaBasicExecutionRole (the logs, on any resource) on every role
    # it builds, and AWSXrayWriteOnlyAccess (X-Ray's writes and sampling
    # reads, on "*") since the functions have `Tracing` (checked with
    # samtranslator: whatever the parameter's value). The template's own
    # X-Ray statement (XRAY above) is what a role of the template, which
    # SAM leaves alone, gets. A DynamoDB event would bring AWSLambdaDynamoDBExecutionRole:
    # the stream reads on any resource, every stream of the account. So a
    # function with a DynamoDB event has a role of the template's, to which
    # SAM adds nothing. What the no-wildcard rule above cannot see is pinned
    # here, so that another event type (SQS, Kinesis, ...) with its own
    # managed policy does not arrive unnoticed.
    SAM_GRANTS = {
        "Schedule": set(),
        "HttpApi": set(),
    }
    OWN_ROLE_EVENTS = {"DynamoDB"}

    def test_sam_adds_only_the_known_grants(self):
        for name, function in FUNCTIONS.items():
            with self.subTest(name):
                properties = function["Properties"]
                # No managed or boundary policy beside the statements.
                for key in ["ManagedPolicyArns", "PermissionsBoundary"]:
                    self.assertNotIn(key, properties)
                events = event_types(function)
                self.assertLessEqual(events, set(self.SAM_GRANTS) | self.OWN_ROLE_EVENTS)
                if events & self.OWN_ROLE_EVENTS:
                    self.assertIsNotNone(role_of(function), "SAM would add its managed policy")
                for event in properties.get("Events", {}).values():
                    destination = event["Properties"].get("DestinationConfig")
                    if destination is None:
                        continue
                    # An SQS queue of the template, never an empty one.
                    (kind,) = destination
                    self.assertEqual(kind, "OnFailure")
                    self.assertEqual(destination[kind]["Type"], "SQS")
                    target = destination[kind]["Destination"]["Fn::GetAtt"]
                    self.assertTrue(target.endswith(".Arn"), target)
                    self.assertEqual(RESOURCES[target.split(".")[0]]["Type"], "AWS::SQS::Queue")

    def test_a_function_role_of_the_template_is_lambdas_alone_and_carries_the_function_condition(self):
        roles = of_type("AWS::IAM::Role")
        used = {}
        for name, function in FUNCTIONS.items():
            if role_of(function) is not None:
                used[function["Properties"]["Role"]["Fn::GetAtt"].split(".")[0]] = name
        self.assertEqual(set(roles), set(used), "a role no function uses")
        for role_name, function_name in used.items():
            with self.subTest(role_name):
                role = roles[role_name]
                self.assertEqual(role.get("Condition"), FUNCTIONS[function_name].get("Condition"))
                properties = role["Properties"]
                for key in ["ManagedPolicyArns", "PermissionsBoundary", "Path", "RoleName"]:
                    self.assertNotIn(key, properties)
                (trust,) = properties["AssumeRolePolicyDocument"]["Statement"]
                self.assertEqual(
                    trust,
                    {"Effect": "Allow", "Principal": {"Service": ["lambda.amazonaws.com"]},
                     "Action": ["sts:AssumeRole"]},
                )

    def test_no_function_has_the_dynamodb_execution_role_and_the_stream_rights_name_its_stream(self):
        # Comments aside, the template never names the managed policy.
        self.assertNotIn("AWSLambdaDynamoDBExecutionRole", json.dumps(TEMPLATE))
        readers = set()
        for name, function in FUNCTIONS.items():
            with self.subTest(name):
                streams = [
                    e["Properties"]["Stream"]
                    for e in function["Properties"].get("Events", {}).values()
                    if e["Type"] == "DynamoDB"
                ]
                found = stream_statements(function)
                if not streams:
                    self.assertEqual(found, [], "stream rights without a stream event")
                    continue
                readers.add(name)
                (stream,) = streams
                self.assertEqual(stream, {"Fn::GetAtt": "RatingsTable.StreamArn"})
                (statement,) = found
                self.assertEqual(set(as_list(statement["Action"])), STREAM_ACTIONS)
                self.assertEqual(len(as_list(statement["Action"])), len(STREAM_ACTIONS))
                self.assertEqual(as_list(statement["Resource"]), [stream])
                self.assertNotIn("Condition", statement)
                # Its logs: its own log group, where LoggingConfig sends them.
                group = function["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
                logs = [s for s in statements(function)
                        if any(a.startswith("logs:") for a in as_list(s["Action"]))]
                (logs,) = logs
                self.assertEqual(as_list(logs["Action"]), ["logs:CreateLogStream", "logs:PutLogEvents"])
                self.assertEqual(as_list(logs["Resource"]), [{"Fn::GetAtt": f"{group}.Arn"}])
                # The on-failure queue, which SAM does not grant to a role
                # it did not build.
                sends = [s for s in statements(function) if "sqs:SendMessage" in as_list(s["Action"])]
                (send,) = sends
                self.assertEqual(as_list(send["Action"]), ["sqs:SendMessage"])
                (event,) = [e for e in function["Properties"]["Events"].values() if e["Type"] == "DynamoDB"]
                queue = event["Properties"]["DestinationConfig"]["OnFailure"]["Destination"]
                self.assertEqual(as_list(send["Resource"]), [queue])
        self.assertEqual(readers, {"StreamRatingSyncFunction"})

    def test_dynamodb_rights_name_the_tables_and_their_indexes(self):
        indexes = {
            table: {i["IndexName"] for i in r["Properties"].get("GlobalSecondaryIndexes", [])}
            for table, r in TABLES.items()
        }
        for name, function in FUNCTIONS.items():
            for statement in statements(function):
                actions = as_list(statement["Action"])
                if not any(a.startswith("dynamodb:") for a in actions):
                    continue
                if set(actions) & STREAM_ACTIONS:
                    # The stream's, checked above: nothing else with them.
                    self.assertLessEqual(set(actions), STREAM_ACTIONS, name)
                    continue
                self.assertTrue(all(a.startswith("dynamodb:") for a in actions), name)
                for resource in as_list(statement["Resource"]):
                    if "Fn::GetAtt" in resource:
                        table, attribute = resource["Fn::GetAtt"].split(".")
                        self.assertEqual(attribute, "Arn")
                        self.assertIn(table, TABLES)
                    else:
                        match = re.fullmatch(r"\$\{(\w+)\.Arn\}/index/([\w-]+)", resource["Fn::Sub"])
                        self.assertIsNotNone(match, resource)
                        table, index = match.groups()
                        self.assertIn(index, indexes[table], name)
                        self.assertEqual(actions, ["dynamodb:Query"], f"{name}: an index is only queried")

    def test_the_rights_granted_are_the_operations_the_store_sends(self):
        operations = {
            "get_item": "GetItem", "put_item": "PutItem", "update_item": "UpdateItem",
            "delete_item": "DeleteItem", "query": "Query", "scan": "Scan",
            "batch_write_item": "BatchWriteItem", "batch_get_item": "BatchGetItem",
            "transact_write_items": "TransactWriteItems", "transact_get_items": "TransactGetItems",
        }
        sent = set()
        queried_indexes = set()
        store = ROOT / "shared/src/store"
        for path in sorted(store.glob("*.rs")):
            if path.name == "mock_tests.rs":
                continue
            source = rust_source(path.relative_to(ROOT))
            for call in re.findall(r"\.(\w+)\(\)\s*\n?\s*\.table_name", source):
                if call in operations:
                    sent.add("dynamodb:" + operations[call])
            if "batch_write_item()" in source:
                sent.add("dynamodb:BatchWriteItem")
            if "batch_get_item()" in source:
                sent.add("dynamodb:BatchGetItem")
            for constant in re.findall(r"\.index_name\((\w+)\)", source):
                queried_indexes.add(constant)
        granted = set()
        granted_indexes = set()
        for function in FUNCTIONS.values():
            for statement in statements(function):
                granted.update(
                    a for a in as_list(statement["Action"])
                    if a.startswith("dynamodb:") and a not in STREAM_ACTIONS
                )
                for resource in as_list(statement["Resource"]):
                    if isinstance(resource, dict) and "/index/" in resource.get("Fn::Sub", ""):
                        granted_indexes.add(resource["Fn::Sub"].rsplit("/", 1)[1])
        self.assertIn("dynamodb:Query", sent)
        self.assertEqual(granted, sent, "granted to some function vs sent by shared/src/store")
        values = {}
        for path in store.glob("*.rs"):
            values.update(re.findall(r'pub const (\w+_INDEX): &str = "([\w-]+)"', path.read_text()))
        self.assertEqual({values[c] for c in queried_indexes}, granted_indexes)


class Tables(unittest.TestCase):
    def test_on_demand_recoverable_encrypted_and_protected(self):
        self.assertEqual(PARAMETERS["TableDeletionProtection"]["Default"], "true")
        self.assertEqual(
            set(TABLES), {"RatingsTable", "FailedUploadsTable", "SyncStateTable", "AuditTable"}
        )
        for name, table in TABLES.items():
            with self.subTest(name):
                properties = table["Properties"]
                self.assertEqual(properties["BillingMode"], "PAY_PER_REQUEST")
                self.assertIs(
                    properties["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], True
                )
                self.assertIs(properties["SSESpecification"]["SSEEnabled"], True)
                self.assertEqual(
                    properties["DeletionProtectionEnabled"], {"Ref": "TableDeletionProtection"}
                )

    def test_outputs_name_the_api_and_the_tables(self):
        outputs = TEMPLATE["Outputs"]
        for name in ["AdminApiUrl", "RatingsTableName", "FailedUploadsTableName", "SyncStateTableName",
                     "AuditTableName"]:
            self.assertIn(name, outputs)
        self.assertEqual(outputs["RatingsTableName"]["Value"], {"Ref": "RatingsTable"})
        self.assertEqual(outputs["AuditTableName"]["Value"], {"Ref": "AuditTable"})

    def test_the_audit_trail_is_its_own_table_expired_by_ttl(self):
        properties = TABLES["AuditTable"]["Properties"]
        self.assertEqual(properties["TableName"], {"Ref": "AuditTableName"})
        self.assertEqual(PARAMETERS["AuditTableName"]["Default"], "admin_audit_log")
        self.assertEqual(
            properties["KeySchema"],
            [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        )
        self.assertCountEqual(
            properties["AttributeDefinitions"],
            [{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}],
        )
        self.assertNotIn("GlobalSecondaryIndexes", properties)
        self.assertEqual(
            properties["TimeToLiveSpecification"], {"AttributeName": "expires_at", "Enabled": True}
        )
        # A replacement keeps the old records.
        self.assertEqual(TABLES["AuditTable"]["UpdateReplacePolicy"], "Retain")
        retention = PARAMETERS["AuditRetentionDays"]
        self.assertEqual(
            (retention["Type"], retention["Default"], retention["MinValue"], retention["MaxValue"]),
            ("Number", 400, 1, 3650),
        )
        # The code's fallback is the parameter's default.
        self.assertEqual(setting_default("AUDIT_RETENTION_DAYS"), "400")

    def test_the_admin_functions_may_only_add_audit_records(self):
        admins = admin_functions()
        self.assertEqual(len(admins), 4)
        for name, function in FUNCTIONS.items():
            with self.subTest(name):
                granted = dynamodb_grants_on(function, "AuditTable")
                env = environment(function)
                if name in admins:
                    self.assertEqual(granted, ["dynamodb:PutItem"], "add only: no read, update, delete")
                    self.assertEqual(env["AUDIT_TABLE"], {"Ref": "AuditTable"})
                    self.assertEqual(env["AUDIT_RETENTION_DAYS"], {"Ref": "AuditRetentionDays"})
                else:
                    self.assertEqual(granted, [], "only the admin functions write the audit trail")
                    self.assertNotIn("AUDIT_TABLE", env)
                # The audit records left the state table: no partition
                # condition there names them any more.
                for statement in statements(function):
                    condition = json.dumps(statement.get("Condition", {}))
                    self.assertNotIn('"audit"', condition)
                    for values in statement.get("Condition", {}).values():
                        for listed in values.values():
                            self.assertTrue(listed, "an empty LeadingKeys list")


class Alarms(unittest.TestCase):
    def test_every_alarm_is_accepted_by_cloudwatch_for_every_parameter_value(self):
        self.assertTrue(ALARMS)
        for name, alarm in ALARMS.items():
            with self.subTest(name):
                properties = alarm["Properties"]
                period = int(properties["Period"])
                self.assertTrue(period in (10, 20, 30) or period % 60 == 0)
                low, high = parameter_range(properties["EvaluationPeriods"])
                self.assertGreaterEqual(low, 1)
                limit = 86_400 if period < 3_600 else 604_800
                self.assertLessEqual(period * high, limit, "evaluation range too long")
                if "DatapointsToAlarm" in properties:
                    self.assertEqual(properties["DatapointsToAlarm"], properties["EvaluationPeriods"])
                # The stack's topic always, AlarmTopicArn as well when given.
                topic, given = {"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}
                actions = {"Fn::If": ["HasAlarmTopicArn", [topic, given], [topic]]}
                self.assertEqual(properties["AlarmActions"], actions)
                self.assertEqual(properties.get("OKActions", actions), actions)

    def test_the_sync_alarms_watch_metrics_the_code_emits(self):
        metrics = emitted_metrics()
        self.assertEqual(
            metrics,
            {"Uploaded", "Updated", "Failed", "Parked", "Conflicts", "Backlog",
             "DurationMs", "BreakerOpen", "RunSucceeded", "RunFailed", "ConsecutiveFailedRuns",
             "RatingFreshness", "RecordsRetried", "RecordsIgnored"},
        )
        watched = set()
        for name, alarm in ALARMS.items():
            properties = alarm["Properties"]
            if properties["Namespace"] in ("AWS/Lambda", "AWS/SQS"):
                continue
            self.assertEqual(properties["Namespace"], {"Ref": "MetricsNamespace"}, name)
            if properties["MetricName"] in filter_metric_names():
                # Made by a metric filter of the template, not by the code.
                self.assertNotIn(properties["MetricName"], metrics, name)
                continue
            self.assertIn(properties["MetricName"], metrics, name)
            (dimension,) = properties["Dimensions"]
            self.assertEqual(dimension["Name"], "Function")
            self.assertIn(dimension["Value"], metric_function_dimensions(), name)
            watched.add(properties["MetricName"])
        self.assertEqual(watched, {"ConsecutiveFailedRuns", "RunFailed", "Failed", "Parked"})

    def test_no_successful_run_in_two_intervals(self):
        (alarm,) = [
            a["Properties"] for a in ALARMS.values()
            if a["Properties"]["MetricName"] == "ConsecutiveFailedRuns"
        ]
        # The runs count (shared/src/store/health.rs); the alarm follows the
        # latest scheduled run's count: two failures in a row, two intervals.
        self.assertEqual(alarm["Dimensions"], [{"Name": "Function", "Value": "scheduled-rating-sync"}])
        self.assertEqual((alarm["Statistic"], alarm["Threshold"]), ("Maximum", 2))
        self.assertEqual(alarm["ComparisonOperator"], "GreaterThanOrEqualToThreshold")
        self.assertEqual(alarm["TreatMissingData"], "ignore")
        # Nothing in it depends on the interval, so the whole range.
        interval = PARAMETERS["RatingSyncIntervalMinutes"]
        self.assertEqual((interval["MinValue"], interval["MaxValue"]), (5, 1440))
        self.assertNotIn("RatingSyncIntervalMinutes", json.dumps(alarm))

    def test_a_schedule_that_stopped_invoking_is_noticed(self):
        (alarm,) = [
            a["Properties"] for a in ALARMS.values()
            if a["Properties"]["MetricName"] == "Invocations"
        ]
        self.assertEqual(alarm["Dimensions"][0]["Value"], {"Ref": "ScheduledRatingSyncFunction"})
        self.assertEqual(alarm["TreatMissingData"], "breaching")
        self.assertEqual((alarm["Statistic"], alarm["Threshold"]), ("Sum", 1))
        self.assertEqual(alarm["ComparisonOperator"], "LessThanThreshold")
        # Its window holds two of the longest intervals, so a healthy
        # schedule always has an invocation in it.
        longest = int(PARAMETERS["RatingSyncIntervalMinutes"]["MaxValue"]) * 60
        self.assertGreaterEqual(alarm["Period"] * alarm["EvaluationPeriods"], 2 * longest)

    def test_every_function_has_an_errors_alarm(self):
        watched = {
            a["Properties"]["Dimensions"][0]["Value"]["Ref"]
            for a in ALARMS.values()
            if a["Properties"]["Namespace"] == "AWS/Lambda" and a["Properties"]["MetricName"] == "Errors"
        }
        self.assertEqual(watched, set(FUNCTIONS))

    @staticmethod
    def dashboard(**parameters):
        """The dashboard's widgets as deployed with these parameters (every
        ${...} of the body a placeholder `<...>`), and the resources."""
        resources, _ = deployed(**parameters)
        (dashboard,) = [r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Dashboard"]
        body, variables = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
        text = body
        for name, value in variables.items():
            # A variable is a string, or a Fn::Sub of one (its own ${...}
            # become placeholders below).
            text = text.replace("${" + name + "}", value["Fn::Sub"] if isinstance(value, dict) else value)
        references = set(re.findall(r"\$\{([\w:.]+)\}", text))
        parsed = json.loads(re.sub(r"\$\{([\w:.]+)\}", r"<\1>", text))
        return parsed["widgets"], references, resources

    def test_the_dashboard_is_json_and_shows_every_alarm(self):
        for enabled in ["true", "false"]:
            with self.subTest(EnableFastPath=enabled):
                widgets, references, resources = self.dashboard(EnableFastPath=enabled)
                for reference in references:
                    head = reference.split(".")[0]
                    self.assertTrue(
                        head in resources or head in PARAMETERS or head.startswith("AWS::"), reference
                    )
                alarms = {n for n, r in resources.items() if r["Type"] == "AWS::CloudWatch::Alarm"}
                (alarm_widget,) = [w for w in widgets if w["type"] == "alarm"]
                self.assertEqual(
                    set(alarm_widget["properties"]["alarms"]), {f"<{name}.Arn>" for name in alarms}
                )
                # No two widgets on the same spot.
                spots = [(w["x"], w["y"]) for w in widgets]
                self.assertEqual(len(spots), len(set(spots)))
        widgets, *_ = self.dashboard(EnableFastPath="true")
        shown = {tuple(m[:4]) for w in widgets for m in w["properties"].get("metrics", [])}
        self.assertIn(("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName",
                       "<FastPathFailureQueue.QueueName>"), shown)
        (freshness,) = [w["properties"] for w in widgets
                        if any(m[1] == "RatingFreshness" for m in w["properties"].get("metrics", []))]
        percentiles = {(m[3], m[4]["stat"]) for m in freshness["metrics"]}
        self.assertEqual(percentiles, {(f, s) for f in ["stream-rating-sync", "scheduled-rating-sync"]
                                       for s in ["p50", "p99"]})

    def test_the_dashboard_shows_every_metric_the_code_emits(self):
        widgets, *_ = self.dashboard(EnableFastPath="true")
        shown = set()
        for widget in widgets:
            for metric in widget["properties"].get("metrics", []):
                if metric[0] == "<MetricsNamespace>":
                    shown.add(metric[1])
        self.assertEqual(shown, emitted_metrics() | filter_metric_names())


class PublicEdge(unittest.TestCase):
    """The admin API treats its input as hostile: nothing reaches an admin
    function (or writes an audit record) before the authorizer accepted the
    token, every route is throttled, every request is logged, refusals are
    counted and alarmed."""

    AUTHORIZER = "AdminTokenAuthorizer"
    # $context variables whose value the caller chooses: kept out of the
    # access log, where a crafted value could break the JSON line and slip
    # past the metric filter.
    CALLER_CHOSEN = ("$context.path", "$context.identity.userAgent", "$request.", "$context.domainName",
                     "$context.customDomain")

    def test_every_route_is_behind_the_lambda_authorizer(self):
        auth = ADMIN_API["Auth"]
        self.assertEqual(auth["DefaultAuthorizer"], self.AUTHORIZER)
        self.assertEqual(list(auth["Authorizers"]), [self.AUTHORIZER])
        authorizer = auth["Authorizers"][self.AUTHORIZER]
        self.assertNotIn("JwtConfiguration", authorizer, "a Lambda authorizer, not a JWT one")
        self.assertEqual(authorizer["FunctionArn"], {"Fn::GetAtt": "AdminAuthorizerFunction.Arn"})
        self.assertEqual(binary(FUNCTIONS["AdminAuthorizerFunction"]), "admin-authorizer")
        self.assertEqual(authorizer["AuthorizerPayloadFormatVersion"], "2.0")
        self.assertIs(authorizer["EnableSimpleResponses"], True)
        # Without it SAM grants API Gateway no right to invoke the
        # authorizer, and every request is a 500.
        self.assertIs(authorizer["EnableFunctionDefaultPermissions"], True)
        self.assertNotIn("FunctionInvokeRole", authorizer)
        identity = authorizer["Identity"]
        self.assertEqual(set(identity), {"Headers", "ReauthorizeEvery"})
        self.assertEqual(identity["Headers"], ["Authorization"])
        self.assertEqual(identity["ReauthorizeEvery"], {"Ref": "AdminAuthorizerCacheSeconds"})
        cache = PARAMETERS["AdminAuthorizerCacheSeconds"]
        self.assertEqual(cache["Type"], "Number")
        self.assertEqual(cache["Default"], 300)
        self.assertGreater(cache["Default"], 0)
        self.assertGreaterEqual(cache["MinValue"], 0)
        self.assertLessEqual(cache["MaxValue"], AUTHORIZER_MAX_CACHE_SECONDS)

        routes = list(http_api_routes())
        self.assertEqual({name for name, *_ in routes}, set(admin_functions()))
        self.assertEqual(len(routes), 4)
        for name, event_name, properties, key in routes:
            with self.subTest(key):
                # An HttpApi event without ApiId lands on an implicit API
                # that has no authorizer.
                self.assertEqual(properties["ApiId"], {"Ref": "AdminHttpApi"})
                override = properties.get("Auth", {})
                self.assertEqual(override.get("Authorizer", self.AUTHORIZER), self.AUTHORIZER,
                                 f"{name}.{event_name} turns the authorizer off")
        # No other way in: no other API, no function URL.
        self.assertEqual(set(of_type("AWS::Serverless::HttpApi")), {"AdminHttpApi"})
        for kind in ["AWS::Serverless::Api", "AWS::ApiGateway::RestApi", "AWS::ApiGatewayV2::Api",
                     "AWS::ApiGatewayV2::Route", "AWS::Lambda::Url", "AWS::Lambda::Permission"]:
            self.assertEqual(of_type(kind), {}, kind)
        for name, function in FUNCTIONS.items():
            self.assertNotIn("FunctionUrlConfig", function["Properties"], name)
        self.assertNotIn("DefinitionBody", ADMIN_API, "routes come from the functions' events")

    def test_the_authorizer_reads_the_admin_secret_and_nothing_in_dynamodb(self):
        self.assertEqual(authorizer_functions(), {"AdminAuthorizerFunction": self.AUTHORIZER})
        function = FUNCTIONS["AdminAuthorizerFunction"]
        properties = function["Properties"]
        self.assertEqual(event_types(function), set(), "invoked by API Gateway as an authorizer only")
        self.assertNotIn("dynamodb", json.dumps(properties["Policies"]).lower())
        self.assertEqual(
            [s for s in statements(function) if s != Permissions.XRAY],
            [{"Effect": "Allow", "Action": ["secretsmanager:GetSecretValue"],
              "Resource": [{"Ref": "AdminJwtSecret"}]}],
        )
        self.assertLessEqual(properties["MemorySize"], 256)
        self.assertNotIn("AUDIT_TABLE", environment(function))
        log_group = properties["LoggingConfig"]["LogGroup"]["Ref"]
        self.assertEqual(RESOURCES[log_group]["Type"], "AWS::Logs::LogGroup")
        self.assertEqual(RESOURCES[log_group]["Properties"]["RetentionInDays"], {"Ref": "LogRetentionDays"})
        self.assertIn("admin-authorizer", RESOURCES[log_group]["Properties"]["LogGroupName"]["Fn::Sub"])

    def test_the_jwt_claim_settings_reach_the_authorizer_and_the_admin_functions(self):
        self.assertEqual(PARAMETERS["AdminJwtIssuer"]["Default"], "")
        self.assertEqual(PARAMETERS["AdminJwtAudience"]["Default"], "")
        ttl = PARAMETERS["AdminJwtMaxTtlSeconds"]
        self.assertEqual((ttl["Type"], ttl["Default"], ttl["MinValue"], ttl["MaxValue"]),
                         ("Number", 86400, 60, 2592000))
        checking = set(admin_functions()) | set(authorizer_functions())
        self.assertEqual(len(checking), 5)
        for name, function in FUNCTIONS.items():
            with self.subTest(name):
                env = environment(function)
                for variable, value in JWT_SETTINGS.items():
                    if name in checking:
                        self.assertEqual(env.get(variable), value, variable)
                    else:
                        self.assertNotIn(variable, env)

    def test_access_logs_are_json_lines_in_a_group_that_expires(self):
        settings = ADMIN_API["AccessLogSettings"]
        self.assertEqual(settings["DestinationArn"], {"Fn::GetAtt": "AdminApiAccessLogGroup.Arn"})
        group = RESOURCES["AdminApiAccessLogGroup"]
        self.assertEqual(group["Type"], "AWS::Logs::LogGroup")
        self.assertEqual(group["Properties"]["RetentionInDays"], {"Ref": "LogRetentionDays"})
        form = settings["Format"]
        self.assertNotIn("\n", form, "one line per request")
        self.assertLessEqual(len(form.encode()), 3072, "HTTP API access log format limit")
        fields = json.loads(form)
        expected = {
            "requestId": "$context.requestId",
            "routeKey": "$context.routeKey",
            "status": "$context.status",
            "sourceIp": "$context.identity.sourceIp",
            "authorizerError": "$context.authorizer.error",
            "integrationError": "$context.integrationErrorMessage",
            "requestTime": "$context.requestTime",
            "responseLatency": "$context.responseLatency",
        }
        self.assertEqual({k: fields.get(k) for k in expected}, expected)
        for field, value in fields.items():
            with self.subTest(field):
                self.assertRegex(value, r"^\$context\.[A-Za-z.]+$", "one variable per field, quoted")
                for chosen in self.CALLER_CHOSEN:
                    self.assertFalse(value.startswith(chosen), f"{value}: chosen by the caller")

    @staticmethod
    def matches(pattern, line):
        """Evaluates a CloudWatch Logs JSON filter pattern of the form
        `{ ($.a = "x") || ($.b = "y") ... }` against one log line."""
        match = re.fullmatch(r"\{\s*(.*?)\s*\}", pattern)
        terms = re.split(r"\s*\|\|\s*", match.group(1))
        event = json.loads(line)
        for term in terms:
            term_match = re.fullmatch(r'\(\s*\$\.(\w+)\s*=\s*"([^"]*)"\s*\)', term)
            assert term_match, f"not a string equality: {term}"
            field, value = term_match.groups()
            if event.get(field) == value:
                return True
        return False

    @staticmethod
    def access_log_line(status):
        form = ADMIN_API["AccessLogSettings"]["Format"]
        return re.sub(r"\$context\.[A-Za-z.]+", "-", form).replace('"status":"-"', f'"status":"{status}"')

    def test_refused_requests_are_counted_and_a_surge_raises_an_alarm(self):
        self.assertEqual(set(METRIC_FILTERS), {"AdminApiAuthFailuresMetricFilter", "AdminApiThrottledMetricFilter"})
        properties = METRIC_FILTERS["AdminApiAuthFailuresMetricFilter"]["Properties"]
        self.assertEqual(properties["LogGroupName"], {"Ref": "AdminApiAccessLogGroup"})
        pattern = properties["FilterPattern"]
        for status, counted in [(200, False), (400, False), (401, True), (403, True), (404, False),
                                (429, False), (500, False), (503, False)]:
            with self.subTest(status=status):
                line = self.access_log_line(status)
                self.assertIn(f'"status":"{status}"', line)
                self.assertEqual(self.matches(pattern, line), counted)
        (transformation,) = properties["MetricTransformations"]
        self.assertEqual(transformation["MetricNamespace"], {"Ref": "MetricsNamespace"})
        self.assertEqual(transformation["MetricName"], "AdminApiAuthFailures")
        self.assertEqual(transformation["MetricValue"], "1")

        watching = {n: a["Properties"] for n, a in ALARMS.items()
                    if a["Properties"]["MetricName"] == "AdminApiAuthFailures"}
        self.assertEqual(list(watching), ["AdminApiAuthFailureSurgeAlarm"])
        alarm = watching["AdminApiAuthFailureSurgeAlarm"]
        self.assertEqual(alarm["Namespace"], {"Ref": "MetricsNamespace"})
        self.assertNotIn("Dimensions", alarm, "the metric filter makes no dimension")
        self.assertEqual((alarm["Statistic"], alarm["Period"], alarm["EvaluationPeriods"]), ("Sum", 300, 1))
        self.assertEqual(alarm["Threshold"], {"Ref": "AdminAuthFailureAlarmThreshold"})
        self.assertEqual(alarm["ComparisonOperator"], "GreaterThanOrEqualToThreshold")
        self.assertEqual(alarm["TreatMissingData"], "notBreaching")
        threshold = PARAMETERS["AdminAuthFailureAlarmThreshold"]
        self.assertEqual((threshold["Type"], threshold["Default"], threshold["MinValue"]), ("Number", 50, 1))

    def test_requests_over_the_shared_throttle_are_counted_and_raise_an_alarm(self):
        # The throttles are shared by every caller and come before the
        # authorizer: a stranger's flood spends an admin's budget. What can
        # be seen of it is the 429s, which the 401/403 alarm does not count.
        properties = METRIC_FILTERS["AdminApiThrottledMetricFilter"]["Properties"]
        self.assertEqual(properties["LogGroupName"], {"Ref": "AdminApiAccessLogGroup"})
        for status in [200, 400, 401, 403, 404, 429, 500, 503]:
            with self.subTest(status=status):
                line = self.access_log_line(status)
                self.assertIn(f'"status":"{status}"', line)
                self.assertEqual(self.matches(properties["FilterPattern"], line), status == 429)
        (transformation,) = properties["MetricTransformations"]
        self.assertEqual(
            (transformation["MetricNamespace"], transformation["MetricName"], transformation["MetricValue"]),
            ({"Ref": "MetricsNamespace"}, "AdminApiThrottled", "1"),
        )
        watching = {n: a["Properties"] for n, a in ALARMS.items()
                    if a["Properties"]["MetricName"] == "AdminApiThrottled"}
        self.assertEqual(list(watching), ["AdminApiThrottledAlarm"])
        alarm = watching["AdminApiThrottledAlarm"]
        self.assertEqual(alarm["Namespace"], {"Ref": "MetricsNamespace"})
        self.assertNotIn("Dimensions", alarm)
        self.assertEqual((alarm["Statistic"], alarm["Period"], alarm["EvaluationPeriods"]), ("Sum", 300, 1))
        self.assertEqual((alarm["Threshold"], alarm["ComparisonOperator"]), (10, "GreaterThanOrEqualToThreshold"))
        self.assertEqual(alarm["TreatMissingData"], "notBreaching")
        # An admin's real use never reaches a route's throttle: a person,
        # or an agent polling the status every few seconds and retrying the
        # parked ratings one by one, stays under every rate, and a burst of
        # two syncs at once (a double click) passes.
        settings = ADMIN_API["RouteSettings"]
        real_use = {
            "POST /api/admin/sync/ratings": (2, 1 / 30),
            "POST /api/admin/ratings/failed-uploads/{id}/retry": (3, 1.0),
            "GET /api/admin/ratings/failed-uploads": (5, 1.0),
            "GET /api/admin/sync/ratings/status": (5, 1 / 5),
        }
        self.assertEqual(set(real_use), set(settings))
        for key, (burst, rate) in real_use.items():
            with self.subTest(key):
                self.assertLessEqual(burst, settings[key]["ThrottlingBurstLimit"])
                self.assertLessEqual(rate, settings[key]["ThrottlingRateLimit"])
        # The runbook says what to do about it.
        self.assertTrue("`AdminApiThrottledAlarm`" in OPERATING, "no runbook row")

    def test_every_route_has_its_own_throttle(self):
        keys = {key for *_, key in http_api_routes()}
        settings = ADMIN_API["RouteSettings"]
        # A key without a route fails the deployment; a route without a key
        # gets only the default.
        self.assertEqual(set(settings), keys)
        default = ADMIN_API["DefaultRouteSettings"]
        self.assertEqual(default, {"ThrottlingBurstLimit": 20, "ThrottlingRateLimit": 10})
        for key, route in settings.items():
            with self.subTest(key):
                self.assertEqual(set(route), {"ThrottlingBurstLimit", "ThrottlingRateLimit"})
                self.assertGreaterEqual(route["ThrottlingRateLimit"], 1)
                self.assertGreaterEqual(route["ThrottlingBurstLimit"], route["ThrottlingRateLimit"])
                self.assertLessEqual(route["ThrottlingBurstLimit"], default["ThrottlingBurstLimit"])
                self.assertLessEqual(route["ThrottlingRateLimit"], default["ThrottlingRateLimit"])
        self.assertEqual(settings["POST /api/admin/sync/ratings"],
                         {"ThrottlingBurstLimit": 2, "ThrottlingRateLimit": 1})
        # The reads may go faster than either write.
        writes = [v for k, v in settings.items() if k.startswith("POST ")]
        reads = [v for k, v in settings.items() if k.startswith("GET ")]
        self.assertEqual((len(writes), len(reads)), (2, 2))
        for read in reads:
            for write in writes:
                self.assertGreater(read["ThrottlingRateLimit"], write["ThrottlingRateLimit"])
                self.assertGreater(read["ThrottlingBurstLimit"], write["ThrottlingBurstLimit"])

    def test_the_admin_functions_have_reserved_concurrency_unless_zero(self):
        parameter = PARAMETERS["AdminReservedConcurrency"]
        self.assertEqual((parameter["Type"], parameter["Default"], parameter["MinValue"]), ("Number", 2, 0))
        # 0 means none reserved: Lambda would read 0 as "never run".
        self.assertEqual(
            TEMPLATE["Conditions"]["HasAdminReservedConcurrency"],
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "AdminReservedConcurrency"}, "0"]}]},
        )
        conditional = {"Fn::If": ["HasAdminReservedConcurrency", {"Ref": "AdminReservedConcurrency"},
                                  {"Ref": "AWS::NoValue"}]}
        admins = admin_functions()
        self.assertEqual(len(admins), 4)
        for name, function in FUNCTIONS.items():
            with self.subTest(name):
                reserved = function["Properties"].get("ReservedConcurrentExecutions")
                if name in admins:
                    self.assertEqual(reserved, conditional)
                elif "Schedule" in event_types(function):
                    self.assertEqual(reserved, 1, "one run at a time")


class FastPath(unittest.TestCase):
    """EnableFastPath: the ratings table's stream invokes stream-rating-sync;
    the scheduled run stays as the safety net."""

    FUNCTION = "StreamRatingSyncFunction"
    QUEUE = "FastPathFailureQueue"
    # The functions that run syncs: they get the grace period and publish
    # events.
    SYNCING = {"ScheduledRatingSyncFunction", "AdminSyncRatingsFunction", FUNCTION}

    @classmethod
    def mapping(cls, resources=RESOURCES):
        (event,) = resources[cls.FUNCTION]["Properties"]["Events"].values()
        return event

    def test_the_fast_path_is_on_by_default_and_a_condition(self):
        parameter = PARAMETERS["EnableFastPath"]
        self.assertEqual((parameter["Type"], parameter["Default"]), ("String", "true"))
        self.assertEqual(parameter["AllowedValues"], ["true", "false"])
        self.assertEqual(
            TEMPLATE["Conditions"]["FastPathEnabled"],
            {"Fn::Equals": [{"Ref": "EnableFastPath"}, "true"]},
        )
        self.assertIs(condition_values()["FastPathEnabled"], True)
        self.assertIs(condition_values(EnableFastPath="false")["FastPathEnabled"], False)

    def test_with_it_the_ratings_table_streams_both_images_to_the_function(self):
        resources, outputs = deployed(EnableFastPath="true")
        self.assertEqual(
            resources["RatingsTable"]["Properties"]["StreamSpecification"],
            {"StreamViewType": "NEW_AND_OLD_IMAGES"},
        )
        for name in ["FailedUploadsTable", "SyncStateTable", "AuditTable"]:
            self.assertNotIn("StreamSpecification", resources[name]["Properties"], name)
        function = resources[self.FUNCTION]
        self.assertEqual(binary(function), "stream-rating-sync")
        self.assertEqual(function["Type"], "AWS::Serverless::Function")
        event = self.mapping(resources)
        self.assertEqual(event["Type"], "DynamoDB")
        self.assertEqual(event["Properties"]["Stream"], {"Fn::GetAtt": "RatingsTable.StreamArn"})
        self.assertEqual(event["Properties"]["StartingPosition"], "LATEST")
        self.assertIn("FastPathFailureQueueUrl", outputs)
        self.assertEqual(outputs["FastPathFailureQueueUrl"]["Value"], {"Ref": self.QUEUE})

    def test_the_mapping_retries_only_failed_items_a_bounded_number_of_times(self):
        mapping = self.mapping()["Properties"]
        # Only the ratings the function reports as failed are tried again.
        self.assertEqual(mapping["FunctionResponseTypes"], ["ReportBatchItemFailures"])
        # A batch that fails as a whole is split, so one bad record cannot
        # hold the others back.
        self.assertIs(mapping["BisectBatchOnFunctionError"], True)
        # Lambda's defaults (-1) retry a failing batch until it expires a day
        # later, blocking its shard: both are bounded here. Literal numbers:
        # the local poller reads them.
        self.assertIsInstance(mapping["MaximumRetryAttempts"], int)
        self.assertIsInstance(mapping["MaximumRecordAgeInSeconds"], int)
        self.assertTrue(0 <= mapping["MaximumRetryAttempts"] <= 3, mapping["MaximumRetryAttempts"])
        self.assertTrue(60 <= mapping["MaximumRecordAgeInSeconds"] <= 600)
        # At once: no batching window, so a batch is what arrived since the
        # last poll (a few records at normal rates). BatchSize is only the
        # most: a burst fills batches of 250, large enough to keep the
        # function's window of uploads full (one batch per shard at a time).
        self.assertEqual((mapping["BatchSize"], mapping["MaximumBatchingWindowInSeconds"]), (250, 0))
        # What is given up on goes to the template's queue, by SAM's SQS
        # type (which grants sqs:SendMessage on it and nothing else).
        self.assertEqual(
            mapping["DestinationConfig"],
            {"OnFailure": {"Type": "SQS", "Destination": {"Fn::GetAtt": f"{self.QUEUE}.Arn"}}},
        )
        queue = RESOURCES[self.QUEUE]
        self.assertEqual(queue["Type"], "AWS::SQS::Queue")
        self.assertIs(queue["Properties"]["SqsManagedSseEnabled"], True)
        self.assertEqual(queue["Properties"]["MessageRetentionPeriod"], 14 * 24 * 3600)

    # Stream records as the filter sees them: a rating the app wrote or
    # edited (pending), the function's own marking, a delete.
    PENDING_IMAGE = {
        "id": {"S": "r-1"}, "skill_id": {"S": "s-1"}, "user_id": {"S": "u-1"},
        "rating": {"N": "4"}, "version": {"N": "2"},
        "updated_at": {"S": "2026-11-29T09:00:00.000Z"}, "synced_to_saas": {"S": "false"},
    }
    SYNCED_IMAGE = {k: v for k, v in PENDING_IMAGE.items() if k != "synced_to_saas"} | {
        "synced_at": {"S": "2026-11-29T09:00:02.000Z"}, "remote_rating_id": {"S": "m-1"},
    }

    @classmethod
    def record(cls, event_name, old, new):
        dynamodb = {"Keys": {"id": {"S": "r-1"}}, "StreamViewType": "NEW_AND_OLD_IMAGES",
                    "SequenceNumber": "100", "SizeBytes": 200}
        if old is not None:
            dynamodb["OldImage"] = old
        if new is not None:
            dynamodb["NewImage"] = new
        return {"eventID": "e-1", "eventName": event_name, "eventSource": "aws:dynamodb",
                "awsRegion": "us-east-1", "dynamodb": dynamodb}

    def passes(self, record):
        """Lambda invokes the function with a record when any filter matches."""
        filters = self.mapping()["Properties"]["FilterCriteria"]["Filters"]
        self.assertTrue(filters)
        for entry in filters:
            self.assertIsInstance(entry["Pattern"], str, "a literal: the local poller reads it")
            self.assertLessEqual(len(entry["Pattern"]), 4096, "Lambda's limit on a pattern")
        return any(matches(json.loads(entry["Pattern"]), record) for entry in filters)

    def test_the_filter_lets_pending_ratings_through_and_nothing_else(self):
        pending, synced = self.PENDING_IMAGE, self.SYNCED_IMAGE
        edited = pending | {"rating": {"N": "5"}, "version": {"N": "3"}}
        waiting = {k: v for k, v in pending.items() if k != "synced_to_saas"} | {
            "sync_retry": {"S": "waiting"}}
        cases = {
            "a new rating": (self.record("INSERT", None, pending), True),
            "an edit of a synced rating": (self.record("MODIFY", synced, edited), True),
            "an edit of a pending rating": (self.record("MODIFY", pending, edited), True),
            "the function marking it synced": (self.record("MODIFY", pending, synced), False),
            "a run marking it waiting": (self.record("MODIFY", pending, waiting), False),
            "a remote value taken": (self.record("MODIFY", synced, synced | {"rating": {"N": "1"}}), False),
            "a delete of a pending rating": (self.record("REMOVE", pending, None), False),
            "a rating already synced when written": (self.record("INSERT", None, synced), False),
            "a pending flag of another type": (
                self.record("INSERT", None, pending | {"synced_to_saas": {"BOOL": False}}), False),
        }
        for case, (record, expected) in cases.items():
            with self.subTest(case):
                self.assertEqual(self.passes(record), expected)
        # The value the filter waits for is the store's pending marker.
        self.assertIn('SYNCED_TO_SAAS_PENDING: &str = "false"', rust_source("shared/src/store/ratings.rs"))

    def test_the_matcher_itself(self):
        # The matcher is what the filter test trusts: exact values, nesting,
        # any of a list, an array value, and a missing key.
        self.assertTrue(matches({"a": ["x", "y"]}, {"a": "y", "b": 1}))
        self.assertFalse(matches({"a": ["x"]}, {"a": "z"}))
        self.assertFalse(matches({"a": ["x"]}, {"b": "x"}))
        self.assertTrue(matches({"a": {"b": [1]}}, {"a": {"b": 1}}))
        self.assertFalse(matches({"a": {"b": [1]}}, {"a": "b"}))
        self.assertTrue(matches({"a": ["x"]}, {"a": ["w", "x"]}))
        with self.assertRaises(AssertionError):
            matches({"a": [{"prefix": "x"}]}, {"a": "xy"})

    def test_everything_of_the_fast_path_carries_its_condition(self):
        conditioned = {n for n, r in RESOURCES.items() if r.get("Condition") == "FastPathEnabled"}
        self.assertEqual(
            conditioned,
            {self.FUNCTION, self.QUEUE, "StreamRatingSyncLogGroup", "FastPathFailuresAlarm",
             "StreamRatingSyncErrorsAlarm", "StreamRatingSyncRole"},
        )
        for enabled in ["true", "false"]:
            with self.subTest(EnableFastPath=enabled):
                # Nothing refers to a resource, or a stream, that is not there.
                self.assertEqual(dangling(*deployed(EnableFastPath=enabled)), set())
        # The resolver sees a reference that would break: the dashboard
        # without its Fn::If, or the stream's consumer without the condition.
        resources, outputs = deployed(EnableFastPath="false")
        # And the role's, which names the stream, the queue and the group.
        self.assertEqual(
            dangling(resources | {"StreamRatingSyncRole": RESOURCES["StreamRatingSyncRole"]}, outputs),
            {("StreamRatingSyncRole", "RatingsTable.StreamArn"), ("StreamRatingSyncRole", self.QUEUE),
             ("StreamRatingSyncRole", "StreamRatingSyncLogGroup")},
        )
        self.assertEqual(
            dangling(resources | {self.FUNCTION: RESOURCES[self.FUNCTION]}, outputs),
            {(self.FUNCTION, "RatingsTable.StreamArn"), (self.FUNCTION, self.QUEUE),
             (self.FUNCTION, "StreamRatingSyncLogGroup"), (self.FUNCTION, "StreamRatingSyncRole")},
        )

    def test_without_it_no_stream_no_function_no_mapping_no_queue(self):
        resources, outputs = deployed(EnableFastPath="false")
        self.assertNotIn("StreamSpecification", resources["RatingsTable"]["Properties"])
        types = [r["Type"] for r in resources.values()]
        self.assertNotIn("AWS::SQS::Queue", types)
        self.assertNotIn("AWS::Lambda::EventSourceMapping", types)
        functions = {n: r for n, r in resources.items() if r["Type"] == "AWS::Serverless::Function"}
        self.assertEqual(len(functions), len(FUNCTIONS) - 1)
        self.assertNotIn(self.FUNCTION, functions)
        for name, function in functions.items():
            self.assertNotIn("DynamoDB", event_types(function), name)
        self.assertNotIn("AWS/SQS", json.dumps(resources))
        self.assertNotIn("FastPathFailureQueueUrl", outputs)
        self.assertNotIn("StreamRatingSyncFunctionName", outputs)

    def test_the_runs_leave_young_ratings_to_it_and_nothing_without_it(self):
        grace = PARAMETERS["FastPathGraceSeconds"]
        self.assertEqual(
            (grace["Type"], grace["Default"], grace["MinValue"], grace["MaxValue"]),
            ("Number", 300, 0, 86400),
        )
        # By default a run does not take a rating the fast path may still be
        # retrying.
        mapping = self.mapping()["Properties"]
        self.assertGreaterEqual(grace["Default"], mapping["MaximumRecordAgeInSeconds"])
        having = {
            n for n, f in FUNCTIONS.items() if "RATING_SYNC_FAST_PATH_GRACE_SECONDS" in environment(f)
        }
        self.assertEqual(having, self.SYNCING)
        for enabled, expected in [("true", {"Ref": "FastPathGraceSeconds"}), ("false", "0")]:
            resources, _ = deployed(EnableFastPath=enabled)
            for name in self.SYNCING & set(resources):
                with self.subTest(name, EnableFastPath=enabled):
                    value = resolve(environment(resources[name]), condition_values(EnableFastPath=enabled))
                    self.assertEqual(value["RATING_SYNC_FAST_PATH_GRACE_SECONDS"], expected)
        # With the fast path off the scheduled run is there, and leaves nothing.
        resources, _ = deployed(EnableFastPath="false")
        self.assertIn("ScheduledRatingSyncFunction", resources)

    def test_the_function_is_configured_as_the_scheduled_one(self):
        function = FUNCTIONS[self.FUNCTION]["Properties"]
        scheduled = FUNCTIONS["ScheduledRatingSyncFunction"]["Properties"]
        self.assertEqual(function["MemorySize"], scheduled["MemorySize"])
        self.assertEqual(function["Timeout"], 60)
        env = environment(FUNCTIONS[self.FUNCTION])
        scheduled_env = environment(FUNCTIONS["ScheduledRatingSyncFunction"])
        # The same marketplace, tables, instance, metrics and delivery
        # settings; the interval only concerns the schedule.
        self.assertEqual({k: v for k, v in scheduled_env.items() if k != "RATING_SYNC_INTERVAL_MINUTES"}, env)
        # Its log group expires, as every function's.
        group = RESOURCES[function["LoggingConfig"]["LogGroup"]["Ref"]]
        self.assertEqual(group["Properties"]["RetentionInDays"], {"Ref": "LogRetentionDays"})
        self.assertIn("stream-rating-sync", group["Properties"]["LogGroupName"]["Fn::Sub"])
        # Reserved concurrency: a parameter, none reserved when 0.
        parameter = PARAMETERS["FastPathReservedConcurrency"]
        self.assertEqual((parameter["Type"], parameter["Default"], parameter["MinValue"]), ("Number", 4, 0))
        self.assertEqual(
            function["ReservedConcurrentExecutions"],
            {"Fn::If": ["HasFastPathReservedConcurrency", {"Ref": "FastPathReservedConcurrency"},
                        {"Ref": "AWS::NoValue"}]},
        )
        self.assertEqual(
            TEMPLATE["Conditions"]["HasFastPathReservedConcurrency"],
            {"Fn::Not": [{"Fn::Equals": [{"Ref": "FastPathReservedConcurrency"}, "0"]}]},
        )

    def test_the_failure_queue_raises_an_alarm(self):
        watching = [a for a in ALARMS.values()
                    if {"Fn::GetAtt": f"{self.QUEUE}.QueueName"} in
                    [d["Value"] for d in a["Properties"].get("Dimensions", [])]]
        self.assertEqual(len(watching), 1)
        (alarm,) = watching
        properties = alarm["Properties"]
        self.assertEqual(alarm["Condition"], "FastPathEnabled")
        self.assertEqual((properties["Namespace"], properties["MetricName"]),
                         ("AWS/SQS", "ApproximateNumberOfMessagesVisible"))
        self.assertEqual(properties["Dimensions"][0]["Name"], "QueueName")
        # One message is one batch given up on.
        self.assertEqual((properties["Threshold"], properties["ComparisonOperator"]),
                         (1, "GreaterThanOrEqualToThreshold"))
        self.assertEqual((properties["Period"], properties["EvaluationPeriods"]), (300, 1))
        self.assertEqual(properties["TreatMissingData"], "notBreaching")


class Events(unittest.TestCase):
    """The sync functions publish to the EventBusName bus, nowhere else."""

    BUS_ARN = {
        "Fn::Sub": "arn:${AWS::Partition}:events:${AWS::Region}:${AWS::AccountId}:event-bus/${EventBusName}"
    }

    @staticmethod
    def put_events(function):
        return [s for s in statements(function) if "events:PutEvents" in as_list(s["Action"])]

    def test_the_sync_functions_may_put_events_on_the_configured_bus_only(self):
        parameter = PARAMETERS["EventBusName"]
        self.assertEqual((parameter["Type"], parameter["Default"]), ("String", "default"))
        self.assertRegex("default", parameter["AllowedPattern"])
        self.assertRegex("orders/atom-bus.v2", parameter["AllowedPattern"])
        self.assertNotRegex("arn:aws:events:us-east-1:123456789012:event-bus/x", parameter["AllowedPattern"])
        self.assertNotRegex("", parameter["AllowedPattern"])
        publishing = {n for n, f in FUNCTIONS.items() if self.put_events(f)}
        self.assertEqual(publishing, FastPath.SYNCING)
        for name, function in FUNCTIONS.items():
            with self.subTest(name):
                env = environment(function)
                if name in publishing:
                    self.assertEqual(env["RATING_SYNC_EVENT_BUS"], {"Ref": "EventBusName"})
                    (statement,) = self.put_events(function)
                    self.assertEqual(as_list(statement["Action"]), ["events:PutEvents"])
                    self.assertEqual(as_list(statement["Resource"]), [self.BUS_ARN])
                    self.assertEqual(list(statement["Condition"]), ["StringEquals"])
                else:
                    self.assertNotIn("RATING_SYNC_EVENT_BUS", env)

    def test_the_source_granted_is_the_one_the_code_sends(self):
        (source,) = re.findall(r'pub const EVENT_SOURCE: &str = "([^"]+)"', rust_source("shared/src/events"))
        for name in FastPath.SYNCING:
            (statement,) = self.put_events(FUNCTIONS[name])
            self.assertEqual(statement["Condition"], {"StringEquals": {"events:source": [source]}}, name)


class EventSchemaRegistry(unittest.TestCase):
    """RegisterEventSchemas: a schema registry with one JSONSchemaDraft4
    schema per file of schemas/events/, each the file's text unchanged."""

    SCHEMA_DIR = ROOT / "schemas" / "events"
    CONDITION = "EventSchemasEnabled"
    # The registry's limits (CreateSchema, CreateRegistry).
    MAX_DESCRIPTION = 256
    MAX_CONTENT = 100_000
    # CloudFormation's longest stack name, which the registry's name and
    # description hold.
    LONGEST_STACK_NAME = "s" * 128

    @staticmethod
    def script():
        """infra/scripts/event_schemas.py, imported."""
        spec = importlib.util.spec_from_file_location(
            "event_schemas", ROOT / "infra" / "scripts" / "event_schemas.py")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module

    def files(self):
        return {p.stem: p.read_text(encoding="utf-8") for p in sorted(self.SCHEMA_DIR.iterdir())}

    def test_on_by_default_and_a_condition(self):
        parameter = PARAMETERS["RegisterEventSchemas"]
        self.assertEqual((parameter["Type"], parameter["Default"]), ("String", "true"))
        self.assertEqual(parameter["AllowedValues"], ["true", "false"])
        self.assertEqual(
            TEMPLATE["Conditions"][self.CONDITION],
            {"Fn::Equals": [{"Ref": "RegisterEventSchemas"}, "true"]},
        )
        schema_types = {"AWS::EventSchemas::Registry", "AWS::EventSchemas::Schema"}
        registered = {n for n, r in RESOURCES.items() if r["Type"] in schema_types}
        self.assertEqual(len(registered), 1 + len(self.files()))
        for name in registered:
            self.assertEqual(RESOURCES[name].get("Condition"), self.CONDITION, name)
        self.assertEqual(TEMPLATE["Outputs"]["EventSchemaRegistryName"]["Condition"], self.CONDITION)
        resources, outputs = deployed()
        self.assertLessEqual(registered, set(resources))
        self.assertIn("EventSchemaRegistryName", outputs)
        resources, outputs = deployed(RegisterEventSchemas="false")
        self.assertEqual(registered & set(resources), set())
        self.assertNotIn("EventSchemaRegistryName", outputs)
        for enabled in ["true", "false"]:
            with self.subTest(RegisterEventSchemas=enabled):
                self.assertEqual(dangling(*deployed(RegisterEventSchemas=enabled)), set())

    def test_the_registry_is_named_after_the_stack(self):
        (name,) = of_type("AWS::EventSchemas::Registry")
        properties = RESOURCES[name]["Properties"]
        self.assertEqual(properties["RegistryName"], {"Fn::Sub": "${AWS::StackName}-events"})
        self.assertEqual(TEMPLATE["Outputs"]["EventSchemaRegistryName"]["Value"],
                         {"Fn::GetAtt": [name, "RegistryName"]})
        description = properties["Description"]["Fn::Sub"].replace("${AWS::StackName}", self.LONGEST_STACK_NAME)
        self.assertLessEqual(len(description), self.MAX_DESCRIPTION)

    def test_every_file_is_registered_as_it_is_and_nothing_else(self):
        files = self.files()
        schemas = of_type("AWS::EventSchemas::Schema")
        source = re.findall(r'pub const EVENT_SOURCE: &str = "([^"]+)"', rust_source("shared/src/events"))
        fix = "edit schemas/events/, then run `python3 infra/scripts/event_schemas.py --write`"
        registered = {}
        for name, schema in schemas.items():
            properties = schema["Properties"]
            self.assertEqual(properties["RegistryName"], {"Fn::GetAtt": ["EventSchemaRegistry", "RegistryName"]})
            self.assertEqual(properties["Type"], "JSONSchemaDraft4", name)
            owner, _, detail_type = properties["SchemaName"].partition("@")
            self.assertEqual([owner], source, name)
            self.assertEqual(name, f"{detail_type}EventSchema")
            registered[detail_type] = properties
        self.assertEqual(set(registered), set(files), fix)
        for detail_type, text in files.items():
            with self.subTest(detail_type):
                properties = registered[detail_type]
                self.assertEqual(json.loads(properties["Content"]), json.loads(text), fix)
                self.assertEqual(properties["Content"], text, fix)
                self.assertLessEqual(len(properties["Content"]), self.MAX_CONTENT)
                self.assertEqual(properties["Description"], json.loads(text)["description"], fix)
                self.assertLessEqual(len(properties["Description"]), self.MAX_DESCRIPTION)

    def test_the_template_holds_what_the_script_writes(self):
        script = self.script()
        _, current, _ = script.split((ROOT / "template.yaml").read_text(encoding="utf-8"))
        self.assertEqual(current, script.block(),
                         "template.yaml: run `python3 infra/scripts/event_schemas.py --write`")
        self.assertIn("python3 infra/scripts/event_schemas.py --write", current)


class Parameters(unittest.TestCase):
    def test_every_parameter_is_in_one_console_group(self):
        groups = TEMPLATE["Metadata"]["AWS::CloudFormation::Interface"]["ParameterGroups"]
        grouped = [name for group in groups for name in group["Parameters"]]
        self.assertEqual(len(grouped), len(set(grouped)), "a parameter in two groups")
        self.assertEqual(set(grouped), set(PARAMETERS))


class Configuration(unittest.TestCase):
    def rows(self):
        """The first cell of every table row of docs/configuration.md, unquoted."""
        return set(re.findall(r"^\| `([A-Za-z0-9_]+)` \|", CONFIGURATION, re.MULTILINE))

    def test_every_environment_variable_is_documented(self):
        variables = set(re.findall(r'"([A-Z][A-Z0-9_]{3,})"', rust_source("shared/src/config")))
        variables.update(f"{name}_SECRET_ARN" for name in secret_settings())
        variables.update(setting_entries())
        for function in FUNCTIONS.values():
            variables.update(environment(function))
        self.assertIn("RATING_SYNC_METRICS_NAMESPACE", variables)
        self.assertEqual(variables - self.rows(), set(), "missing from the tables of docs/configuration.md")

    def test_every_parameter_is_documented_with_its_default(self):
        for name, parameter in PARAMETERS.items():
            with self.subTest(name):
                row = re.search(rf"^\| `{name}` \|([^\n]*)$", CONFIGURATION, re.MULTILINE)
                self.assertIsNotNone(row, "missing from the parameter table of docs/configuration.md")
                default = str(parameter.get("Default", "required"))
                if default == "":
                    default = "empty"
                self.assertIn(default, row.group(1).split("|")[0])


if __name__ == "__main__":
    unittest.main()
