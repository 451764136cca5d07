#!/usr/bin/env bash
# Installs the tools the project needs into a project-local virtualenv, pinned:
#   infra/scripts/bootstrap.sh       moto's DynamoDB server, cargo-lambda (with zig),
#                                    cfn-lint and the test tools:
#                                    infra/scripts/requirements.txt into ./.venv;
#   infra/scripts/bootstrap.sh sam   the AWS SAM CLI: infra/scripts/requirements-sam.txt
#                                    into ./.venv-sam (its pins clash with moto's).
# Fast when nothing changed: a stamp records what was installed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
case "${1:-}" in
    "") venv="$root/.venv" requirements="$root/infra/scripts/requirements.txt" what="local tools" ;;
    sam) venv="$root/.venv-sam" requirements="$root/infra/scripts/requirements-sam.txt" what="the SAM CLI" ;;
    *) echo "usage: infra/scripts/bootstrap.sh [sam]" >&2; exit 2 ;;
esac
stamp="$venv/.installed-requirements"

if [ -f "$stamp" ] && cmp -s "$requirements" "$stamp"; then
    exit 0
fi
command -v python3 >/dev/null || { echo "bootstrap: python3 is required" >&2; exit 1; }
echo "bootstrap: installing $what into ${venv#"$root"/} (one time, a minute or two)" >&2
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
cp "$requirements" "$stamp"
