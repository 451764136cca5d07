#!/usr/bin/env bash
# Installs the tools the project needs into a project-local virtualenv, pinned:
#   infra/scripts/bootstrap.sh       moto's DynamoDB server, cargo-lambda (with zig),
#                                    cfn-lint and the test tools:
#                                    infra/scripts/requirements.txt into ./.venv;
#   infra/scripts/bootstrap.sh sam   the AWS SAM CLI: infra/scripts/requirements-sam.txt
#                                    into ./.venv-sam (its pins clash with moto's).
# Without an argument it also makes sure a PostgreSQL server is installed
# (the importer's tests start one on loopback): Debian's postgresql-15 when
# the machine has none.
# Fast when nothing changed: a stamp records what was installed.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
case "${1:-}" in
    "") venv="$root/.venv" requirements="$root/infra/scripts/requirements.txt" what="local tools" ;;
    sam) venv="$root/.venv-sam" requirements="$root/infra/scripts/requirements-sam.txt" what="the SAM CLI" ;;
    *) echo "usage: infra/scripts/bootstrap.sh [sam]" >&2; exit 2 ;;
esac
stamp="$venv/.installed-requirements"

# The importer's tests read a real PostgreSQL server (the Python service's
# production database). Debian's, when the machine has none: its major
# version pinned by the release's package (postgresql-15 on bookworm).
has_postgres() {
    command -v initdb >/dev/null && return 0
    compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null
}
if [ -z "${1:-}" ] && ! has_postgres; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "bootstrap: installing PostgreSQL from Debian's packages (the importer's tests)" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 >/dev/null \
            || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends postgresql-15 >/dev/null; }
    else
        echo "bootstrap: no PostgreSQL here and no root apt-get to install it; the importer's PostgreSQL tests will skip (under CI they fail)" >&2
    fi
fi

if [ -f "$stamp" ] && cmp -s "$requirements" "$stamp"; then
    exit 0
fi
command -v python3 >/dev/null || { echo "bootstrap: python3 is required" >&2; exit 1; }
echo "bootstrap: installing $what into ${venv#"$root"/} (one time, a minute or two)" >&2
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$requirements"
cp "$requirements" "$stamp"
