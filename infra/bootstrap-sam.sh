#!/usr/bin/env bash
# Installs the AWS SAM CLI, pinned in infra/requirements-sam.txt, into its own
# virtualenv ./.venv-sam (its dependency pins clash with moto's in ./.venv).
# Fast when nothing changed: a stamp records what was installed.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
venv="$root/.venv-sam"
requirements="$root/infra/requirements-sam.txt"
stamp="$venv/.installed-requirements"

if [ -f "$stamp" ] && cmp -s "$requirements" "$stamp"; then
    exit 0
fi
command -v python3 >/dev/null || { echo "bootstrap-sam: python3 is required" >&2; exit 1; }
echo "bootstrap-sam: installing the SAM CLI into .venv-sam (one time, about two minutes)" >&2
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
cp "$requirements" "$stamp"
