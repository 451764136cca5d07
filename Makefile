# The two commands a user needs:
#   make demo   the main job: one scheduled sync on the local stack, end to end
#   make test   every check CI runs
# Each installs what it needs (pinned, into ./.venv) on first use.

SHELL := /bin/bash
.DEFAULT_GOAL := help
.PHONY: help demo test bench package bootstrap fmt-check clippy simulator-tests cfn-lint integration openapi

help:
	@echo "make demo   run one scheduled sync against the local stack and show what it did"
	@echo "make test   format check, clippy, unit and integration tests, cfn-lint"
	@echo "make bench  measure the drain rate against C/L; writes BENCHMARKS.md"
	@echo "make package  release arm64 binaries of every function (target/lambda/)"

demo:
	infra/demo.sh

test: bootstrap fmt-check clippy simulator-tests cfn-lint integration openapi
	@echo "make test: all checks passed"

# Not part of the tests: numbers, written down in BENCHMARKS.md.
bench: bootstrap
	python3 infra/bench.py

# Release arm64 binaries for Lambda, with cargo-lambda and its zig (pinned in
# infra/requirements.txt): target/lambda/<function>/bootstrap.
package: bootstrap
	PATH="$(CURDIR)/.venv/bin:$$PATH" cargo lambda build --release --arm64

bootstrap:
	infra/bootstrap.sh

fmt-check:
	cargo fmt --all -- --check

clippy:
	cargo clippy --workspace --all-targets -- -D warnings

simulator-tests:
	python3 -m unittest infra/test_marketplace_simulator.py

cfn-lint: bootstrap
	.venv/bin/cfn-lint template.yaml

# Unit tests and the integration tests, with moto and the simulator running.
# The admin API tests record every answer in target/admin-api-responses/ for
# the openapi check; start from an empty directory so that none is stale.
integration: bootstrap
	rm -rf target/admin-api-responses
	infra/with-local-stack.sh cargo test --workspace

# The admin API's recorded answers against openapi.yaml (after integration).
openapi: bootstrap
	.venv/bin/python -m unittest infra/test_openapi.py
