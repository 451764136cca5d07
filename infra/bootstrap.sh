#!/usr/bin/env bash
# Installs the local tools this project needs into ./.venv, pinned in
# infra/requirements.txt: moto's DynamoDB server, cargo-lambda, cfn-lint.
# Fast when nothing changed: a stamp records what was installed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv"
requirements="$root/infra/requirements.txt"
stamp="$venv/.installed-requirements"

if [ -f "$stamp" ] && cmp -s "$requirements" "$stamp"; then
    exit 0
fi
command -v python3 >/dev/null || { echo "bootstrap: python3 is required" >&2; exit 1; }
echo "bootstrap: installing local tools into .venv (one time, about a minute)" >&2
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
cp "$requirements" "$stamp"
