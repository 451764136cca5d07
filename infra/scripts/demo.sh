#!/usr/bin/env bash
# The main job, end to end on the local stack (`make demo`):
#   1. start moto's DynamoDB server and the marketplace simulator on loopback,
#   2. create the tables from template.yaml and seed 300 ratings (5 invalid),
#   3. move in the Python service's database: a small SQLite file in its
#      later shape (infra/scripts/python_service_db.py), imported with
#      `atom-rating-sync import`,
#   4. run the scheduled-rating-sync function through the Lambda Runtime API
#      (cargo lambda watch + cargo lambda invoke, with an EventBridge event),
#   5. print its report and what the simulator and the dead-letter table hold,
#   6. the fast path: with the stream poller playing the event source
#      mapping, a rating written by hand reaches the marketplace within
#      seconds, with no scheduled tick; then the events the sync published
#      (moto's EventBridge, a rule to an SQS queue),
#   7. ask the admin API where the sync stands and what failed, with
#      `atom-rating-sync status` and `failed` against `local-stack api`,
#   8. stop everything it started.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
if [ -z "${AWS_ENDPOINT_URL_DYNAMODB:-}" ]; then
    exec "$root/infra/scripts/with-local-stack.sh" "$0" "$@"
fi
cd "$root"
export PATH="$root/.venv/bin:$PATH"
count=${DEMO_RATINGS:-300}
invalid=${DEMO_INVALID:-5}

step() { printf '\n== %s\n' "$*" >&2; }
target=${CARGO_TARGET_DIR:-$root/target}

step "building"
cargo build --quiet -p local-stack -p scheduled-rating-sync -p stream-rating-sync -p atom-rating-sync
cli="$target/debug/atom-rating-sync"
step "creating tables and seeding $count ratings ($invalid invalid)"
cargo run --quiet -p local-stack -- create-tables
cargo run --quiet -p local-stack -- seed --count "$count" --invalid "$invalid"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
step "the Python service's database: SQLite, its later shape (infra/python-service/later.sql)"
python3 infra/scripts/python_service_db.py "$work/ratings.db"
step "moving it in: atom-rating-sync import --from sqlite://$work/ratings.db (what each row became)"
"$cli" import --from "sqlite://$work/ratings.db"
step "the local event bus: a rule on the default bus sending the sync's events to a queue"
queues=$(cargo run --quiet -p local-stack -- events-setup)
echo "$queues"
events_queue=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["events_queue_url"])' "$queues")
failure_queue=$(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["failure_queue_url"])' "$queues")
# The functions cargo lambda watch starts publish to it.
export RATING_SYNC_EVENT_BUS=default

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp)
step "starting the Lambda Runtime API emulator (cargo lambda watch on 127.0.0.1:$port)"
# Its own process group, so that stopping it also stops the function it runs.
setsid cargo lambda watch --invoke-address 127.0.0.1 --invoke-port "$port" --ignore-changes --quiet >"$log" 2>&1 &
watch_pid=$!
stop_watch() { kill -- "-$watch_pid" 2>/dev/null || true; wait "$watch_pid" 2>/dev/null || true; }
poller_pid=""
poller_log=$(mktemp)
stop_poller() { [ -z "$poller_pid" ] || { kill "$poller_pid" 2>/dev/null || true; wait "$poller_pid" 2>/dev/null || true; }; }
api_pid=""
stop_api() { [ -z "$api_pid" ] || { kill "$api_pid" 2>/dev/null || true; wait "$api_pid" 2>/dev/null || true; }; }
trap 'stop_api; stop_poller; stop_watch; rm -rf "$log" "$poller_log" "$work"' EXIT
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

step "starting the stream poller: the ratings table's stream -> stream-rating-sync, as the template's event source mapping"
"$target/debug/local-stack" stream-poller --invoke-url "http://127.0.0.1:$port" \
    --on-failure-queue-url "$failure_queue" --from latest 2>"$poller_log" &
poller_pid=$!
python3 - "$poller_log" <<'PY' || { cat "$poller_log" >&2; echo "demo: the stream poller did not start" >&2; exit 1; }
import sys, time
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    if "stream-poller: reading" in open(sys.argv[1]).read():
        sys.exit(0)
    time.sleep(0.1)
sys.exit(1)
PY
head -n 1 "$poller_log" >&2

step "invoking scheduled-rating-sync with an EventBridge scheduled event (the backlog: seeded and imported)"
cargo lambda invoke scheduled-rating-sync --invoke-address 127.0.0.1 --invoke-port "$port" \
    --data-file functions/scheduled-rating-sync/events/scheduled.json --output-format json \
    | python3 -m json.tool

step "function log (JSON lines)"
grep '^{' "$log" | grep -v RatingFreshness | tail -n 3 || true

step "what the sync left behind"
cargo run --quiet -p local-stack -- summary

step "the fast path: a rating written by hand, no scheduled tick"
# cargo lambda watch starts a function at its first invocation: start this
# one now (a record of a rating that does not exist: it does nothing), so
# that what is timed below is the fast path, not a cold start.
cargo lambda invoke stream-rating-sync --invoke-address 127.0.0.1 --invoke-port "$port" \
    --data-file functions/stream-rating-sync/events/pending-insert.json --output-format json >/dev/null
.venv/bin/python - <<'PY'
import datetime, json, os, time, urllib.request
import boto3
dynamodb = boto3.client("dynamodb", endpoint_url=os.environ["AWS_ENDPOINT_URL_DYNAMODB"])
now = datetime.datetime.now(datetime.timezone.utc)
stamp = now.strftime("%Y-%m-%dT%H:%M:%S.") + f"{now.microsecond // 1000:03d}Z"
item = {
    "id": {"S": "demo-by-hand"}, "tenant_id": {"S": "tenant-demo"},
    "skill_id": {"S": "skill-demo"}, "user_id": {"S": "user-by-hand"},
    "rating": {"N": "5"}, "review": {"S": "Written by hand in make demo"},
    "created_at": {"S": stamp}, "updated_at": {"S": stamp},
    "version": {"N": "1"}, "synced_to_saas": {"S": "false"},
}
written = time.monotonic()
dynamodb.put_item(TableName=os.environ.get("RATINGS_TABLE", "skill_ratings"), Item=item)
print(f"wrote rating demo-by-hand (user-by-hand, 5 stars) at {stamp}")
url = os.environ["ATOM_SAAS_API_URL"].rstrip("/") + "/_sim/ratings"
deadline = written + 30
while time.monotonic() < deadline:
    with urllib.request.urlopen(url, timeout=5) as answer:
        ratings = json.load(answer)["ratings"]
    found = [r for r in ratings if r.get("user_id") == "user-by-hand"]
    if found:
        print(f"at the marketplace {time.monotonic() - written:.2f} s later, as {found[0]['id']}")
        break
    time.sleep(0.05)
else:
    raise SystemExit("demo: the rating did not reach the marketplace within 30 s")
PY
echo "the poller's count so far (its own writes, and the scheduled run's, invoked nothing):" >&2
grep '^{' "$poller_log" | tail -n 1 | python3 -c 'import json, sys; s = json.loads(sys.stdin.read())["stream_poller"]["stats"]; print(json.dumps({k: s.get(k) for k in ("invocations", "records_seen", "records_filtered_out", "records_delivered", "batch_item_failures")}))' || true

step "the events the sync published (moto's EventBridge -> rule -> SQS queue)"
cargo run --quiet -p local-stack -- events-drain --queue-url "$events_queue" --wait-seconds 2 \
    | python3 -c '
import collections, json, sys
events = [json.loads(line) for line in sys.stdin if line.strip()]
counts = collections.Counter(e.get("detail-type") for e in events)
print("received:", dict(counts))
for e in events:
    if e.get("detail", {}).get("path") == "fast_path" or e.get("detail-type") == "SyncRunCompleted":
        print(json.dumps(e))
'

api_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
step "starting the admin API (local-stack api: API Gateway's four routes, the authorizer in front, the admin functions' handlers)"
"$target/debug/local-stack" api --port "$api_port" >"$work/api.log" 2>&1 &
api_pid=$!
python3 - "$work/api.log" <<'PY' || { cat "$work/api.log" >&2; echo "demo: local-stack api did not start" >&2; exit 1; }
import sys, time
deadline = time.monotonic() + 60
while time.monotonic() < deadline:
    if "api: the admin API on" in open(sys.argv[1]).read():
        sys.exit(0)
    time.sleep(0.1)
sys.exit(1)
PY
grep '^api: ' "$work/api.log" >&2
# The tool mints its own short-lived token with the local stack's
# ADMIN_JWT_SECRET for each call.
export ATOM_RATING_SYNC_API_URL="http://127.0.0.1:$api_port" ATOM_RATING_SYNC_SUB=demo

step "where the sync stands: atom-rating-sync status (GET /api/admin/sync/ratings/status)"
"$cli" status

step "the parked ratings, seeded and imported: atom-rating-sync failed --all (GET /api/admin/ratings/failed-uploads)"
"$cli" failed --all
