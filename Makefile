# The two commands a user needs:
#   make demo   the main job: one scheduled sync on the local stack, end to end
#   make test   every check CI runs
# Each installs what it needs (pinned, into ./.venv) on first use.

SHELL := /bin/bash
# The SAM CLI, from its own virtualenv; it needs a region even offline.
SAM := AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} SAM_CLI_TELEMETRY=0 .venv-sam/bin/sam
.DEFAULT_GOAL := help
.PHONY: help demo test bench package sam-build bootstrap bootstrap-sam fmt-check clippy simulator-tests cfn-lint sam-validate template-tests docs-check integration openapi iam published-events

help:
	@echo "make demo   run one scheduled sync against the local stack and show what it did"
	@echo "make test   format check, clippy, unit and integration tests, cfn-lint, sam validate"
	@echo "make bench  measure the drain rate against C/L; writes docs/BENCHMARKS.md and its pictures"
	@echo "make package  release arm64 binaries of every function (target/lambda/)"
	@echo "make sam-build  sam build: the same binaries, staged in .aws-sam/ for sam deploy"

demo:
	infra/scripts/demo.sh

test: bootstrap fmt-check clippy simulator-tests cfn-lint sam-validate template-tests docs-check integration openapi iam published-events
	@echo "make test: all checks passed"

# Not part of the tests: numbers, written down in docs/BENCHMARKS.md.
bench: bootstrap
	python3 infra/bench/bench.py

# Release arm64 binaries for Lambda, with cargo-lambda and its zig (pinned in
# infra/scripts/requirements.txt): target/lambda/<function>/bootstrap. Only the
# functions' binaries, so that their dependencies' features are the ones
# `sam build` gives them (it builds each with --bin), not the test crates'.
# The size of each (at most 8 MiB) comes from Cargo.toml's [profile.release],
# which `sam build` uses too.
FUNCTIONS := $(notdir $(wildcard functions/*))
package: bootstrap
	PATH="$(CURDIR)/.venv/bin:$$PATH" cargo lambda build --release --arm64 $(addprefix --bin ,$(FUNCTIONS))

# `sam build` before `sam deploy`: cargo-lambda (from .venv) builds each
# function's release arm64 binary, no Docker. Not part of make test: a cold
# release build takes many minutes.
sam-build: bootstrap bootstrap-sam
	PATH="$(CURDIR)/.venv/bin:$$PATH" $(SAM) build

bootstrap:
	infra/scripts/bootstrap.sh

# The SAM CLI lives in its own virtualenv, .venv-sam (its pins clash with moto's).
bootstrap-sam:
	infra/scripts/bootstrap.sh sam

fmt-check:
	cargo fmt --all -- --check

# The workspace (tests enable shared's test-util feature), then shared as
# the functions build it, without that feature.
clippy:
	cargo clippy --workspace --all-targets -- -D warnings
	cargo clippy -p shared -- -D warnings

simulator-tests:
	python3 -m unittest infra/simulator/test_marketplace_simulator.py

cfn-lint: bootstrap
	.venv/bin/cfn-lint template.yaml

# SAM's own validation of the transform, and its cfn-lint pass; offline, but
# it wants a region.
sam-validate: bootstrap-sam
	$(SAM) validate --lint

# template.yaml against the code and the docs: secrets only as ARNs, IAM
# without wildcards, alarms CloudWatch accepts, every setting documented;
# and the events' JSON Schemas with their examples; and no non-test module of
# shared/src over 400 lines; and the benchmark's pictures, and the ones
# docs/BENCHMARKS.md embeds.
template-tests: bootstrap
	.venv/bin/python -m unittest tests/checks/test_template.py tests/checks/test_event_schemas.py tests/checks/test_code_size.py tests/checks/test_bench_plots.py

# The docs against the tree: docs/architecture.md's layout names every source
# file (git ls-files) and nothing that is gone; every link between the docs
# resolves, anchors included. Standard library only.
docs-check:
	python3 -m unittest tests/checks/test_docs.py

# Unit tests and the integration tests, with moto and the simulator running.
# The admin API tests (tests/admin_*.rs) record every answer in
# target/admin-api-responses/ for the openapi check, the functions'
# DynamoDB requests in target/dynamodb-access/ for the IAM check, and
# tests/events.rs the events it received in target/published-events/; start from
# empty directories so that nothing is stale.
integration: bootstrap
	rm -rf target/admin-api-responses target/dynamodb-access target/published-events
	infra/scripts/with-local-stack.sh cargo test --workspace

# The admin API's recorded answers against openapi.yaml (after integration).
openapi: bootstrap
	.venv/bin/python -m unittest tests/checks/test_openapi.py

# The events tests/events.rs received from the bus (target/published-events/)
# against the schemas the template registers (after integration).
published-events: bootstrap
	.venv/bin/python -m unittest tests/checks/test_published_events.py

# template.yaml's DynamoDB permissions against the requests each function
# sent in the integration tests (after integration): all allowed, none spare.
iam: bootstrap
	.venv/bin/python -m unittest tests/checks/test_iam.py
