#!/usr/bin/env python3
"""The benchmark (`make bench`): how fast the scheduled function drains a
backlog, against the physical limit.

With C marketplace requests in flight and a marketplace latency of L, no
sync can deliver more than C/L ratings per second. This runs the real
release binary of `scheduled-rating-sync` through a minimal Lambda Runtime
API served here (one EventBridge event, a 15-minute deadline), against a
local DynamoDB server and the marketplace simulator with latency L, and
writes what it measured to BENCHMARKS.md:

* drain time, ratings per second and the ratio to C/L, for backlogs of
  1,000 and 10,000, without and with 5% transient failures;
* DynamoDB requests per synced rating, as the function's client counted them;
* the function process's peak resident memory and CPU time;
* the time from process start to its first request for an event;
* the release binary size of each function (arm64, stripped), if
  cargo-lambda can build them.

Two DynamoDB servers: dynalite (npm, fast; the sync needs nothing it lacks)
and moto (the one the tests use; slow, and slower as tables grow). Where the
server is the bottleneck, the table says so, and the run with L = 0 shows the
sync's own overhead. Everything listens on 127.0.0.1 and stops at the end.

Usage: python3 infra/bench.py [--sizes 1000,10000] [--backends dynalite,moto]
                              [--skip-arm64] [--out BENCHMARKS.md]
"""

import argparse
import json
import os
import platform
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv" / "bin"
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
DYNALITE_VERSION = "4.0.0"
NODE_TOOLS = ROOT / ".local" / "node"
FUNCTIONS = sorted(p.name for p in (ROOT / "functions").iterdir() if (p / "Cargo.toml").exists())
TOKEN = "bench-token"
CONCURRENCY = 10
LATENCY_MS = 50


def log(message):
    print(f"bench: {message}", file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(what, check, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            if check():
                return
        except OSError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"bench: {what} did not come up")


def listening(port):
    with socket.create_connection(("127.0.0.1", port), timeout=1):
        return True


class Processes:
    """Everything started here, stopped at exit."""

    def __init__(self):
        self.children = []

    def start(self, args, **kwargs):
        child = subprocess.Popen(args, stdin=subprocess.DEVNULL, **kwargs)
        self.children.append(child)
        return child

    def stop_all(self):
        for child in self.children:
            if child.poll() is None:
                child.terminate()
        for child in self.children:
            try:
                child.wait(timeout=10)
            except subprocess.TimeoutExpired:
                child.kill()


def start_dynamodb(backend, processes):
    """The server's URL and process id."""
    port = free_port()
    if backend == "moto":
        server = processes.start([str(VENV / "moto_server"), "-H", "127.0.0.1", "-p", str(port)],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    else:
        dynalite = NODE_TOOLS / "node_modules" / ".bin" / "dynalite"
        if not dynalite.exists():
            log(f"installing dynalite {DYNALITE_VERSION} into {NODE_TOOLS}")
            subprocess.run(["npm", "install", "--no-save", "--no-audit", "--no-fund",
                            "--prefix", str(NODE_TOOLS), f"dynalite@{DYNALITE_VERSION}"],
                           check=True, stdout=subprocess.DEVNULL)
        server = processes.start([str(dynalite), "--host", "127.0.0.1", "--port", str(port),
                         "--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"],
                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for(f"{backend} on port {port}", lambda: listening(port))
    return f"http://127.0.0.1:{port}", server.pid


def start_simulator(processes):
    out = ROOT / ".local" / "bench-simulator.out"
    out.parent.mkdir(parents=True, exist_ok=True)
    handle = open(out, "w")
    server = processes.start([sys.executable, str(ROOT / "infra" / "marketplace_simulator.py"),
                     "--host", "127.0.0.1", "--port", "0", "--token", TOKEN],
                    stdout=handle, stderr=subprocess.STDOUT)
    wait_for("the simulator", lambda: out.read_text().startswith("LISTENING "))
    return out.read_text().split()[1], server.pid


def sim(url, path, body=None):
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(f"{url}/_sim/{path}", data=data,
                                     method="GET" if body is None else "POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        text = response.read()
        return json.loads(text) if text else {}


class RuntimeApi:
    """The Lambda Runtime API, for one invocation: the first request for an
    event gets the scheduled event; the answer is kept; a second request for
    an event waits until the process is stopped, as on Lambda."""

    def __init__(self, event):
        self.event = json.dumps(event).encode()
        self.first_next_at = None
        self.response = None
        self.answered = threading.Event()
        self.served = False
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def do_GET(self):
                if not self.path.endswith("/runtime/invocation/next"):
                    return self.reply(404, b"{}")
                if api.served:
                    api.answered.wait(timeout=3600)
                    time.sleep(3600)
                api.first_next_at = time.monotonic()
                api.served = True
                deadline_ms = int((time.time() + 900) * 1000)
                self.reply(200, api.event, {
                    "Lambda-Runtime-Aws-Request-Id": "bench-request-1",
                    "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn":
                        "arn:aws:lambda:us-east-1:123456789012:function:scheduled-rating-sync",
                    "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000",
                })

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                if "/response" in self.path or "/error" in self.path:
                    api.response = (self.path, body)
                    api.answered.set()
                self.reply(202, b"{}")

            def reply(self, status, body, headers=None):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                for key, value in (headers or {}).items():
                    self.send_header(key, value)
                self.end_headers()
                self.wfile.write(body)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        # The function is killed while it waits for a second event.
        self.server.handle_error = lambda request, address: None
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()


def proc_status(pid):
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu_seconds = (int(stat[11]) + int(stat[12])) / ticks
    return int(fields["VmHWM"].split()[0]) / 1024, cpu_seconds


def cpu_seconds(pid):
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


def run_scenario(backend, endpoint, sim_url, size, fail_rate, latency_ms, number, servers):
    prefix = f"b{number}_{backend}_{size}_"
    env = dict(os.environ,
               AWS_ENDPOINT_URL_DYNAMODB=endpoint, AWS_ACCESS_KEY_ID="test",
               AWS_SECRET_ACCESS_KEY="test", AWS_REGION="us-east-1",
               AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
               RATINGS_TABLE=f"{prefix}skill_ratings",
               FAILED_UPLOADS_TABLE=f"{prefix}failed_rating_uploads",
               SYNC_STATE_TABLE=f"{prefix}rating_sync_state",
               ATOM_SAAS_API_URL=sim_url, ATOM_SAAS_API_TOKEN=TOKEN,
               ATOM_INSTANCE_ID="bench",
               RATING_SYNC_MAX_CONCURRENCY=str(CONCURRENCY),
               # The pull reads skills one by one; it is measured apart.
               RATING_SYNC_PULL_SKILLS_PER_RUN="0",
               RUST_LOG="warn")
    stack = TARGET / "release" / "local-stack"
    subprocess.run([str(stack), "create-tables"], env=env, check=True, stdout=subprocess.DEVNULL)
    started = time.monotonic()
    subprocess.run([str(stack), "seed", "--count", str(size), "--invalid", "0"],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    seed_seconds = time.monotonic() - started
    sim(sim_url, "reset", {})
    sim(sim_url, "config", {"latency_ms": latency_ms, "fail_rate": fail_rate, "fail_status": 503})

    api = RuntimeApi({"version": "0", "id": "bench", "detail-type": "Scheduled Event",
                      "source": "aws.events", "account": "123456789012",
                      "time": "2026-11-29T00:00:00Z", "region": "us-east-1",
                      "resources": [], "detail": {}})
    env["AWS_LAMBDA_RUNTIME_API"] = f"127.0.0.1:{api.port}"
    env.update(AWS_LAMBDA_FUNCTION_NAME="scheduled-rating-sync",
               AWS_LAMBDA_FUNCTION_MEMORY_SIZE="256", AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
               AWS_LAMBDA_LOG_STREAM_NAME="bench", AWS_LAMBDA_LOG_GROUP_NAME="bench")
    servers_cpu_before = sum(cpu_seconds(pid) for pid in servers)
    spawned = time.monotonic()
    process = subprocess.Popen([str(TARGET / "release" / "scheduled-rating-sync")], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL)
    output = []
    threading.Thread(target=lambda: output.extend(process.stdout), daemon=True).start()
    if not api.answered.wait(timeout=1800):
        process.kill()
        raise SystemExit("bench: the function did not answer within 30 minutes")
    peak_mb, function_cpu = proc_status(process.pid)
    wall = time.monotonic() - spawned
    servers_cpu = sum(cpu_seconds(pid) for pid in servers) - servers_cpu_before
    process.send_signal(signal.SIGKILL)
    process.wait()
    api.close()

    path, body = api.response
    if "/error" in path:
        raise SystemExit(f"bench: the function failed: {body[:500]!r}")
    report = json.loads(body)
    stats = sim(sim_url, "stats")
    synced = report["uploaded"]
    seconds = report["duration_ms"] / 1000
    limit = CONCURRENCY / (latency_ms / 1000) if latency_ms else None
    requests = report.get("dynamodb_requests") or {"reads": 0, "writes": 0}
    emf = [line for line in output if b'"_aws"' in line]
    took = [r["took_ms"] for r in stats["requests"] if r.get("took_ms") is not None]
    result = {
        "backend": backend, "size": size, "fail_rate": fail_rate, "latency_ms": latency_ms,
        "uploaded": synced, "failed": report["failed"], "pending": report.get("pending_count"),
        "seconds": seconds, "rate": synced / seconds if seconds else 0.0,
        "limit": limit, "ratio": (synced / seconds / limit) if limit and seconds else None,
        "reads_per": requests["reads"] / synced if synced else None,
        "writes_per": requests["writes"] / synced if synced else None,
        "peak_mb": peak_mb, "cpu_seconds": function_cpu,
        "cpu_per_rating_ms": function_cpu / synced * 1000 if synced else None,
        "servers_cpu": servers_cpu, "wall": wall,
        "machine_busy": (function_cpu + servers_cpu) / (wall * (os.cpu_count() or 1)),
        "answer_ms": sum(took) / len(took) if took else None,
        "ready_ms": (api.first_next_at - spawned) * 1000 if api.first_next_at else None,
        "creates": stats["creates"], "requests": stats["requests_total"],
        "max_in_flight": stats["max_in_flight"], "seed_seconds": seed_seconds,
        "emf_lines": len(emf), "message": report["message"],
    }
    log(f"{backend} {size} fail={fail_rate} L={latency_ms}ms: {synced} in {seconds:.1f}s "
        f"({result['rate']:.0f}/s), peak {peak_mb:.1f} MB, CPU function {function_cpu:.1f}s "
        f"servers {servers_cpu:.1f}s, answers {result['answer_ms'] or 0:.0f} ms, {report['message']}")
    return result


def arm64_sizes():
    cargo_lambda = VENV / "cargo-lambda"
    if not cargo_lambda.exists():
        return {}
    log("building the arm64 release binaries with cargo-lambda (several minutes)")
    env = dict(os.environ, PATH=f"{VENV}:{os.environ['PATH']}")
    done = subprocess.run(["cargo", "lambda", "build", "--release", "--arm64"]
                          + [arg for name in FUNCTIONS for arg in ("--bin", name)],
                          cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    if done.returncode != 0:
        log("cargo lambda build failed: " + done.stderr.decode(errors="replace")[-800:])
        return {}
    sizes = {}
    for name in FUNCTIONS:
        binary = TARGET / "lambda" / name / "bootstrap"
        if binary.exists():
            sizes[name] = binary.stat().st_size
    return sizes


def machine():
    cpu = next((line.split(":", 1)[1].strip() for line in
                Path("/proc/cpuinfo").read_text().splitlines() if line.startswith("model name")),
               platform.processor() or "unknown")
    memory = next((line.split(":", 1)[1].strip() for line in
                   Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal")),
                  "unknown")
    return f"{os.cpu_count()} cores ({cpu}), {memory} memory, {platform.system()} {platform.release()}"


def number(value, digits=2):
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def write_report(path, results, sizes, started_at):
    lines = [
        "# Benchmarks",
        "",
        f"Measured {started_at} with `make bench` (`infra/bench.py`) on {machine()}.",
        "Re-run after every change that touches the sync path; the command rewrites this file.",
        "",
        "## Method",
        "",
        f"The release build of `scheduled-rating-sync` runs as a real process, driven through a",
        "minimal Lambda Runtime API served by the benchmark: one EventBridge scheduled event with a",
        "15-minute deadline. Before each run a fresh set of tables is created from `template.yaml`",
        "and seeded with the backlog; the marketplace simulator answers after a latency L. With",
        f"C = {CONCURRENCY} requests in flight the physical limit is C/L ratings per second",
        f"({CONCURRENCY / (LATENCY_MS / 1000):.0f}/s at L = {LATENCY_MS} ms). Drain time is the run's own `duration_ms` (lease to",
        "report, backlog count included). DynamoDB requests are counted by the function's client",
        "(every attempt); peak memory is the process's VmHWM, CPU its user + system time, both read",
        "from /proc after it answered; ready is the time from spawning the process to its first",
        "request for an event. The pull (`RATING_SYNC_PULL_SKILLS_PER_RUN`) is off: it costs one",
        "marketplace read and one DynamoDB query per skill, not per rating. With failures, 5% of",
        "marketplace requests answer 503 and are retried within the run.",
        "",
        "## Results",
        "",
        "| DynamoDB server | backlog | failures | L | drain time | ratings/s | C/L | ratio | reads/rating | writes/rating | peak memory | function CPU/rating | servers' CPU | machine busy | simulator answer | ready | at the simulator |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in results:
        lines.append(
            f"| {r['backend']} | {r['size']:,} | {int(r['fail_rate'] * 100)}% | {r['latency_ms']} ms "
            f"| {number(r['seconds'], 1)} s | {number(r['rate'], 0)} | {number(r['limit'], 0)} "
            f"| {number(r['ratio'])} | {number(r['reads_per'], 3)} | {number(r['writes_per'], 3)} "
            f"| {number(r['peak_mb'], 1)} MB | {number(r['cpu_per_rating_ms'], 2)} ms | {number(r['servers_cpu'], 1)} s "
            f"| {number(r['machine_busy'] * 100, 0)}% | {number(r['answer_ms'], 0)} ms | {number(r['ready_ms'], 0)} ms "
            f"| {r['creates']:,} created, {r['requests']:,} requests, max {r['max_in_flight']} in flight |")
    lines += ["", "Every run: " + "; ".join(sorted({r["message"] for r in results})), ""]
    if sizes:
        lines += ["## Release binaries (arm64, stripped, built by `cargo lambda build --release --arm64`)", "",
                  "| function | size |", "|---|---:|"]
        lines += [f"| {name} | {size / 1_048_576:.1f} MiB |" for name, size in sorted(sizes.items())]
        lines.append("")
    Path(path).write_text("\n".join(lines) + "\n")
    log(f"wrote {path}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000")
    parser.add_argument("--backends", default="dynalite,moto")
    parser.add_argument("--skip-arm64", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    started_at = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())

    subprocess.run(["cargo", "build", "--release", "-p", "scheduled-rating-sync", "-p", "local-stack"],
                   cwd=ROOT, check=True)
    processes = Processes()
    results = []
    try:
        sim_url, sim_pid = start_simulator(processes)
        number_of_run = 0
        for backend in args.backends.split(","):
            endpoint, db_pid = start_dynamodb(backend, processes)
            scenarios = [(size, fail, LATENCY_MS) for size in sizes for fail in (0.0, 0.05)]
            # The sync's own overhead: the same drain with an instant marketplace.
            scenarios.append((sizes[0], 0.0, 0))
            for size, fail, latency in scenarios:
                if backend == "moto" and size > 1000:
                    # moto scans in Python and slows as tables grow: 10,000 takes
                    # many minutes and measures moto, not the sync.
                    continue
                number_of_run += 1
                results.append(run_scenario(backend, endpoint, sim_url, size, fail, latency,
                                            number_of_run, [db_pid, sim_pid]))
    finally:
        processes.stop_all()
    binary_sizes = {} if args.skip_arm64 else arm64_sizes()
    write_report(args.out, results, binary_sizes, started_at)


if __name__ == "__main__":
    main()
