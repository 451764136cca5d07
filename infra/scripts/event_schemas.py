#!/usr/bin/env python3
"""The event schemas of template.yaml, written from schemas/events/*.json.

CloudFormation takes an AWS::EventSchemas::Schema's Content inline only, so
the template holds a copy of each schema file. The files are the source:
the tests validate the events against them, and this script writes their
text, unchanged, into the template's block of event schema resources (the
registry and one schema per file, all under the RegisterEventSchemas
condition). Run it after editing a schema:

    python3 infra/scripts/event_schemas.py --write   # rewrite the block
    python3 infra/scripts/event_schemas.py --check   # exit 1 if it is stale

tests/checks/test_template.py runs the check. Standard library only.
"""

import argparse
import json
import pathlib
import sys

ROOT = pathlib.Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"
SCHEMAS = ROOT / "schemas" / "events"
CONDITION = "EventSchemasEnabled"
REGISTRY = "EventSchemaRegistry"
# The registry's type name for a draft 4 JSON Schema.
SCHEMA_TYPE = "JSONSchemaDraft4"
BEGIN = "  # Event schemas (RegisterEventSchemas): written by"
END = "  # End of the event schemas."
WRITE_COMMAND = "python3 infra/scripts/event_schemas.py --write"


def schema_files():
    """(detail type, file text, parsed schema) of every file, by name."""
    found = []
    for path in sorted(SCHEMAS.iterdir()):
        text = path.read_text(encoding="utf-8")
        found.append((path.stem, text, json.loads(text)))
    return found


def logical_id(detail_type):
    return f"{detail_type}EventSchema"


def schema_name(schema):
    """`source@DetailType`, as EventBridge names the schemas it discovers."""
    return f"{schema['x-amazon-events-source']}@{schema['x-amazon-events-detail-type']}"


def block():
    """The template's lines from BEGIN to END, newline-terminated."""
    lines = [
        BEGIN,
        f"  # `{WRITE_COMMAND}` from",
        "  # schemas/events/*.json, the files the tests validate the events",
        "  # against: edit those, then run it.",
        f"  {REGISTRY}:",
        "    Type: AWS::EventSchemas::Registry",
        f"    Condition: {CONDITION}",
        "    Properties:",
        "      RegistryName:",
        '        Fn::Sub: "${AWS::StackName}-events"',
        "      Description:",
        "        Fn::Sub: >-",
        "          The events of atom-rating-sync (stack ${AWS::StackName}): one",
        "          JSON Schema (draft 4) per detail type, of the whole event.",
    ]
    for detail_type, text, schema in schema_files():
        if not text.endswith("}\n") or text.endswith("\n\n"):
            raise SystemExit(f"schemas/events/{detail_type}.json: end it with one newline after its last }}")
        if any(line != line.rstrip() or "\t" in line for line in text.splitlines()):
            raise SystemExit(f"schemas/events/{detail_type}.json: no tab, no space at the end of a line")
        lines += [
            f"  {logical_id(detail_type)}:",
            "    Type: AWS::EventSchemas::Schema",
            f"    Condition: {CONDITION}",
            "    Properties:",
            "      RegistryName:",
            f"        Fn::GetAtt: [{REGISTRY}, RegistryName]",
            f"      SchemaName: {schema_name(schema)}",
            f"      Type: {SCHEMA_TYPE}",
            f"      Description: {json.dumps(schema['description'], ensure_ascii=False)}",
            "      Content: |",
        ]
        lines += [f"        {line}" if line else "" for line in text.splitlines()]
    lines.append(END)
    return "\n".join(lines) + "\n"


def split(template):
    """(before, the block, after); the block is empty when the template has
    none yet (it then goes at the end of Resources)."""
    start = template.find(BEGIN + "\n")
    if start == -1:
        at = template.index("\nOutputs:\n") + 1
        return template[:at].rstrip("\n") + "\n\n", "", "\n" + template[at:]
    end = template.index(END + "\n", start) + len(END) + 1
    return template[:start], template[start:end], template[end:]


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    mode = parser.add_mutually_exclusive_group(required=True)
    mode.add_argument("--write", action="store_true", help="rewrite the block in template.yaml")
    mode.add_argument("--check", action="store_true", help="exit 1 if the block is not what --write writes")
    args = parser.parse_args()
    template = TEMPLATE.read_text(encoding="utf-8")
    before, current, after = split(template)
    expected = block()
    if args.check:
        if current != expected:
            print(f"template.yaml: the event schemas differ from schemas/events/; run `{WRITE_COMMAND}`",
                  file=sys.stderr)
            return 1
        return 0
    if current != expected:
        TEMPLATE.write_text(before + expected + after, encoding="utf-8")
        print("template.yaml: event schemas rewritten")
    return 0


if __name__ == "__main__":
    sys.exit(main())
