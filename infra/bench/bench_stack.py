"""What the benchmark (infra/bench/bench.py) runs things with: the local
DynamoDB servers and the marketplace simulator, the functions' release
binaries as Lambda runs them (a Runtime API per function process, with
Lambda's Invoke API in front), their environment, and small helpers.
Standard library only."""

import json
import os
import platform
import queue
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
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

    def stop(self, pid):
        """Stops the one started with this process id."""
        for child in self.children:
            if child.pid == pid and child.poll() is None:
                child.terminate()
                try:
                    child.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    child.kill()
                    child.wait()

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
    server = processes.start([sys.executable, str(ROOT / "infra" / "simulator" / "marketplace_simulator.py"),
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


class Invocation:
    """One event for the function, and its answer once it posted one."""

    def __init__(self, number, event):
        self.request_id = f"bench-request-{number}"
        self.event = event if isinstance(event, bytes) else json.dumps(event).encode()
        self.done = threading.Event()
        self.path = None
        self.body = None

    @property
    def failed(self):
        return self.path is not None and self.path.endswith("/error")

    def error(self):
        """The function's error as Lambda's Invoke API shows it."""
        try:
            reported = json.loads(self.body or b"{}")
        except ValueError:
            reported = {}
        if not isinstance(reported, dict):
            reported = {}
        return {"errorType": str(reported.get("errorType") or "Unhandled"),
                "errorMessage": str(reported.get("errorMessage")
                                    or (self.body or b"").decode(errors="replace")[:500])}


class RuntimeApi:
    """The Lambda Runtime API of one function process, and Lambda's Invoke
    API in front of it.

    Events are queued (`submit`, or `invoke`, which waits for the answer);
    the process takes them one at a time with
    GET /2018-06-01/runtime/invocation/next, which waits while the queue is
    empty, as on Lambda, and answers each with
    POST .../invocation/{id}/response or .../error. A caller that speaks
    the Invoke API (the stream poller) POSTs the event to
    /2015-03-31/functions/{function}/invocations and gets, once the function
    answered, 200 and its response, or 500 and {errorType, errorMessage}."""

    def __init__(self, function="scheduled-rating-sync", timeout_seconds=900):
        self.function = function
        self.timeout_seconds = timeout_seconds
        self.first_next_at = None
        self.init_error = None
        self.queue = queue.Queue()
        self.waiting = {}
        self.lock = threading.Lock()
        self.submitted = 0
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True

            def log_message(self, *args):
                pass

            def do_GET(self):
                if not self.path.endswith("/runtime/invocation/next"):
                    return self.reply(404, b"{}")
                if api.first_next_at is None:
                    api.first_next_at = time.monotonic()
                invocation = api.queue.get()
                deadline_ms = int((time.time() + api.timeout_seconds) * 1000)
                self.reply(200, invocation.event, {
                    "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(deadline_ms),
                    "Lambda-Runtime-Invoked-Function-Arn":
                        f"arn:aws:lambda:us-east-1:123456789012:function:{api.function}",
                    "Lambda-Runtime-Trace-Id": "Root=1-00000000-000000000000000000000000",
                })

            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                path = self.path.split("?", 1)[0]
                if path == f"/2015-03-31/functions/{api.function}/invocations":
                    invocation = api.invoke(body, timeout=api.timeout_seconds + 60)
                    if not invocation.done.is_set():
                        return self.reply(500, json.dumps({
                            "errorType": "Sandbox.Timedout",
                            "errorMessage": "the function did not answer in time"}).encode())
                    if invocation.failed:
                        return self.reply(500, json.dumps(invocation.error()).encode())
                    return self.reply(200, invocation.body or b"null")
                if path.endswith("/runtime/init/error"):
                    api.init_error = body
                    return self.reply(202, b"{}")
                parts = path.rstrip("/").split("/")
                if len(parts) >= 2 and parts[-1] in ("response", "error"):
                    with api.lock:
                        invocation = api.waiting.pop(parts[-2], None)
                    if invocation is not None:
                        invocation.path, invocation.body = path, body
                        invocation.done.set()
                    return self.reply(202, b"{}")
                self.reply(404, b"{}")

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
        # The function is killed while it waits for its next event.
        self.server.handle_error = lambda request, address: None
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def submit(self, event):
        """Queues `event` (a JSON value, or its bytes) for the function."""
        with self.lock:
            self.submitted += 1
            invocation = Invocation(self.submitted, event)
            self.waiting[invocation.request_id] = invocation
        self.queue.put(invocation)
        return invocation

    def invoke(self, event, timeout=None):
        """Queues `event` and waits for the answer (or `timeout` seconds)."""
        invocation = self.submit(event)
        invocation.done.wait(timeout=timeout)
        return invocation

    def close(self):
        self.server.shutdown()


class FunctionProcess:
    """A function's release binary, run as Lambda runs it: a process that
    takes its events from `api`; its output lines are kept."""

    def __init__(self, binary, env, api, memory_mb=256):
        env = dict(env, AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{api.port}",
                   AWS_LAMBDA_FUNCTION_NAME=api.function,
                   AWS_LAMBDA_FUNCTION_MEMORY_SIZE=str(memory_mb),
                   AWS_LAMBDA_FUNCTION_VERSION="$LATEST",
                   AWS_LAMBDA_LOG_STREAM_NAME="bench", AWS_LAMBDA_LOG_GROUP_NAME="bench")
        self.api = api
        self.output = []
        self.spawned = time.monotonic()
        self.process = subprocess.Popen([str(TARGET / "release" / binary)], env=env,
                                        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                        stdin=subprocess.DEVNULL)
        threading.Thread(target=lambda: self.output.extend(self.process.stdout),
                         daemon=True).start()

    @property
    def pid(self):
        return self.process.pid

    def wait(self, invocation, seconds):
        """Waits for `invocation`'s answer; stops the bench if the process
        died or did not answer in time."""
        deadline = time.monotonic() + seconds
        while not invocation.done.wait(timeout=1):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.kill()
                tail = b"".join(self.output[-20:]).decode(errors="replace")
                raise SystemExit(f"bench: {self.api.function} did not answer "
                                 f"(exit {self.process.returncode}): {tail}")
        return invocation

    def json_lines(self):
        """The output lines that are JSON objects."""
        for line in list(self.output):
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                yield value

    def kill(self):
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
        self.process.wait()


def proc_status(pid):
    fields = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu_seconds = (int(stat[11]) + int(stat[12])) / ticks
    return int(fields["VmHWM"].split()[0]) / 1024, cpu_seconds


class RssSampler:
    """A process's resident memory (VmRSS, /proc) every `interval` seconds,
    from a thread here, until `stop`: [(seconds since `since`, MB)]."""

    def __init__(self, pid, since, interval=0.05):
        self.samples = []
        self.stopped = threading.Event()

        def sample():
            status = Path(f"/proc/{pid}/status")
            while not self.stopped.is_set():
                try:
                    text = status.read_text()
                except OSError:
                    return  # the process is gone
                kb = next((line.split()[1] for line in text.splitlines()
                           if line.startswith("VmRSS:")), None)
                if kb is not None:
                    self.samples.append((time.monotonic() - since, int(kb) / 1024))
                self.stopped.wait(interval)

        self.interval = interval
        self.thread = threading.Thread(target=sample, daemon=True)
        self.thread.start()

    def stop(self):
        self.stopped.set()
        self.thread.join()
        return self.samples


def machine_jiffies():
    """(busy, total) CPU time of the whole machine so far, every process
    included, in clock ticks (/proc/stat)."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return sum(fields) - idle, sum(fields)


def machine_busy_since(before):
    """The share of all cores busy since `before` (machine_jiffies())."""
    busy, total = machine_jiffies()
    return (busy - before[0]) / (total - before[1]) if total > before[1] else None


def cpu_seconds(pid):
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(stat[11]) + int(stat[12])) / os.sysconf("SC_CLK_TCK")


def function_env(endpoint, sim_url, prefix):
    """The environment of both functions (and of local-stack), with tables
    named after `prefix`; the local stack's one endpoint serves DynamoDB and
    its streams."""
    return dict(os.environ,
                AWS_ENDPOINT_URL_DYNAMODB=endpoint, AWS_ENDPOINT_URL_DYNAMODB_STREAMS=endpoint,
                AWS_ACCESS_KEY_ID="test", AWS_SECRET_ACCESS_KEY="test", AWS_REGION="us-east-1",
                AWS_DEFAULT_REGION="us-east-1", AWS_EC2_METADATA_DISABLED="true",
                RATINGS_TABLE=f"{prefix}skill_ratings",
                FAILED_UPLOADS_TABLE=f"{prefix}failed_rating_uploads",
                SYNC_STATE_TABLE=f"{prefix}rating_sync_state",
                AUDIT_TABLE=f"{prefix}admin_audit_log",
                ATOM_SAAS_API_URL=sim_url, ATOM_SAAS_API_TOKEN=TOKEN,
                ATOM_INSTANCE_ID="bench",
                RATING_SYNC_MAX_CONCURRENCY=str(CONCURRENCY),
                # The pull reads skills one by one; it is measured apart.
                RATING_SYNC_PULL_SKILLS_PER_RUN="0",
                RUST_LOG="warn")


def create_tables(env):
    subprocess.run([str(TARGET / "release" / "local-stack"), "create-tables"], env=env, check=True,
                   stdout=subprocess.DEVNULL)


SCHEDULED_EVENT = {"version": "0", "id": "bench", "detail-type": "Scheduled Event",
                   "source": "aws.events", "account": "123456789012",
                   "time": "2026-11-29T00:00:00Z", "region": "us-east-1",
                   "resources": [], "detail": {}}


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


def percentile(values, share):
    """Nearest rank: the smallest value at or above `share` of them."""
    ordered = sorted(values)
    if not ordered:
        return None
    rank = max(1, -(-len(ordered) * share // 1))
    return ordered[int(rank) - 1]


def measured(started_at, scenario):
    """The line that opens each section of docs/BENCHMARKS.md."""
    return (f"Measured {started_at} on {machine()}. Re-run alone: "
            f"`python3 infra/bench/bench.py --scenarios {scenario}`.")


# The pictures and their data: docs/bench/ next to docs/BENCHMARKS.md.
PICTURES = "bench"


def picture(name, alt, reading):
    """The lines that embed docs/bench/<name>.svg in a section: the image,
    with its alt text, and a sentence on how to read it."""
    return [f"![{alt}]({PICTURES}/{name}.svg)", "", reading, ""]


def seconds_or_none(values, digits=4):
    """`values` rounded for a JSON file, infinity (never) as null."""
    return [None if v == float("inf") else round(v, digits) for v in values]


def verdict(ok):
    return "**pass**" if ok else "**FAIL**"
