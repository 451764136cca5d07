#!/usr/bin/env bash
# Runs a command with the local stack up, then stops the stack:
#   - moto's server on a free loopback port: DynamoDB (AWS_ENDPOINT_URL_DYNAMODB),
#     its streams (AWS_ENDPOINT_URL_DYNAMODB_STREAMS), Secrets Manager
#     (AWS_ENDPOINT_URL_SECRETS_MANAGER), EventBridge (AWS_ENDPOINT_URL_EVENTBRIDGE)
#     and SQS (AWS_ENDPOINT_URL_SQS), all on that one port,
#   - the marketplace simulator on another (ATOM_SAAS_API_URL, ATOM_SAAS_API_TOKEN).
# Everything listens on 127.0.0.1 only, and everything started here is
# stopped when the command ends, however it ends.
#
#   infra/scripts/with-local-stack.sh cargo test --workspace
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
"$root/infra/scripts/bootstrap.sh"

state=$(mktemp -d)
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
    rm -rf "$state"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Polls a Python condition until it holds or 30 s pass.
wait_for() {
    local what=$1 check=$2
    python3 - "$check" <<'PY' || { echo "with-local-stack: $what did not come up" >&2; return 1; }
import sys, time
deadline = time.monotonic() + 30
while time.monotonic() < deadline:
    try:
        if eval(sys.argv[1]):
            sys.exit(0)
    except Exception:
        pass
    time.sleep(0.1)
sys.exit(1)
PY
}

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$root/.venv/bin/moto_server" -H 127.0.0.1 -p "$port" >"$state/moto.log" 2>&1 &
pids+=($!)
wait_for "moto (log: $state/moto.log)" \
    "__import__('urllib.request').request.urlopen('http://127.0.0.1:$port/moto-api/data.json', timeout=1).status == 200"

token="local-$(python3 -c 'import secrets; print(secrets.token_hex(8))')"
python3 "$root/infra/simulator/marketplace_simulator.py" --host 127.0.0.1 --port 0 --token "$token" >"$state/simulator.out" 2>&1 &
pids+=($!)
wait_for "the marketplace simulator" "open('$state/simulator.out').read().startswith('LISTENING ')"

export AWS_ENDPOINT_URL_DYNAMODB="http://127.0.0.1:$port"
# moto serves Secrets Manager on the same port: secrets are read from there.
export AWS_ENDPOINT_URL_SECRETS_MANAGER="http://127.0.0.1:$port"
# And the table's stream, the event bus and its queues (the SDKs' names for
# "DynamoDB Streams", "EventBridge" and "SQS"): the stream poller and
# `local-stack events-setup` use them.
export AWS_ENDPOINT_URL_DYNAMODB_STREAMS="http://127.0.0.1:$port"
export AWS_ENDPOINT_URL_EVENTBRIDGE="http://127.0.0.1:$port"
export AWS_ENDPOINT_URL_SQS="http://127.0.0.1:$port"
export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test
export AWS_REGION=us-east-1 AWS_DEFAULT_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
export ATOM_SAAS_API_URL=$(head -n 1 "$state/simulator.out" | cut -d' ' -f2)
export ATOM_SAAS_API_TOKEN="$token"
export ATOM_INSTANCE_ID=local-atom
# The admin API's token secret: random per run unless given
# (`cargo run -p local-stack -- token` signs with it).
export ADMIN_JWT_SECRET="${ADMIN_JWT_SECRET:-local-admin-$(python3 -c 'import secrets; print(secrets.token_hex(24))')}"
echo "with-local-stack: DynamoDB at $AWS_ENDPOINT_URL_DYNAMODB, marketplace simulator at $ATOM_SAAS_API_URL" >&2

"$@"
