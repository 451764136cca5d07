#!/usr/bin/env bash
# The main job, end to end on the local stack (`make demo`):
#   1. start moto's DynamoDB server and the marketplace simulator on loopback,
#   2. create the tables from template.yaml and seed 300 ratings (5 invalid),
#   3. run the scheduled-rating-sync function through the Lambda Runtime API
#      (cargo lambda watch + cargo lambda invoke, with an EventBridge event),
#   4. print its report and what the simulator and the dead-letter table hold,
#   5. ask the admin API where the sync stands (admin-sync-status, through
#      cargo lambda watch, with a local super_admin token),
#   6. stop everything it started.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
if [ -z "${AWS_ENDPOINT_URL_DYNAMODB:-}" ]; then
    exec "$root/infra/with-local-stack.sh" "$0" "$@"
fi
cd "$root"
export PATH="$root/.venv/bin:$PATH"
count=${DEMO_RATINGS:-300}
invalid=${DEMO_INVALID:-5}

step() { printf '\n== %s\n' "$*" >&2; }

step "building"
cargo build --quiet -p local-stack -p scheduled-rating-sync -p admin-sync-status
step "creating tables and seeding $count ratings ($invalid invalid)"
cargo run --quiet -p local-stack -- create-tables
cargo run --quiet -p local-stack -- seed --count "$count" --invalid "$invalid"

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
step "starting the Lambda Runtime API emulator (cargo lambda watch on 127.0.0.1:$port)"
# Its own process group, so that stopping it also stops the function it runs.
setsid cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$port" --ignore-changes --quiet >"$log" 2>&1 &
watch_pid=$!
stop_watch() { kill -- "-$watch_pid" 2>/dev/null || true; wait "$watch_pid" 2>/dev/null || true; }
trap 'stop_watch; rm -f "$log"' EXIT
python3 - "$port" <<'PY' || { cat "$log" >&2; echo "demo: cargo lambda watch did not start" >&2; exit 1; }
import socket, sys, time
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.2)
sys.exit(1)
PY

step "invoking scheduled-rating-sync with an EventBridge scheduled event"
cargo lambda invoke scheduled-rating-sync --invoke-address 127.0.0.1 --invoke-port "$port" \
    --data-file functions/scheduled-rating-sync/events/scheduled.json --output-format json \
    | python3 -m json.tool

step "function log (JSON lines)"
grep '^{' "$log" | tail -n 5 || true

step "what the sync left behind"
cargo run --quiet -p local-stack -- summary

step "the admin API: GET /api/admin/sync/ratings/status (admin-sync-status through cargo lambda watch)"
token=$(cargo run --quiet -p local-stack -- token --sub demo)
python3 - "http://127.0.0.1:$port/lambda-url/admin-sync-status/api/admin/sync/ratings/status" "$token" <<'PY'
import json, sys, urllib.request
request = urllib.request.Request(sys.argv[1], headers={"Authorization": "Bearer " + sys.argv[2]})
with urllib.request.urlopen(request, timeout=120) as answer:
    status = json.load(answer)
runs = status.pop("recent_runs")
status["recent_runs"] = [f"{r['started_at']}  {r['message']}" for r in runs]
print(json.dumps(status, indent=2))
PY
