"""The import scenario of the benchmark (infra/bench/bench.py, issue 19):
`atom-rating-sync import` from a real PostgreSQL into a local DynamoDB
server, beside that server's own batch-write ceiling measured in the same
run, and its section of docs/BENCHMARKS.md.

PostgreSQL is the machine's own (`initdb`, `pg_ctl`, `psql`), started on
loopback in a temporary directory, as the import tests start it
(tests/support/python_db.rs); the tables are the Python service's later
shape, from the one copy of their DDL the tests read too
(infra/python-service/later.sql), filled by generate_series."""

import glob
import json
import os
import resource
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from bench_fast_path import ratings_helper
from bench_stack import (ROOT, TARGET, cpu_seconds, create_tables, free_port, function_env, log,
                         machine_busy_since, machine_jiffies, measured, number)

SCHEMA = ROOT / "infra" / "python-service" / "later.sql"
IMPORT_ROWS = 100_000
CEILING_THREADS = 8
# The bound of issue 19: at most this much memory for 100,000 rows.
MEMORY_BOUND_MB = 64
# Whoever the bench runs as, PostgreSQL will not run as root.
POSTGRES_USER = "postgres"


def rows_sql(rows):
    """The rows of one database, `rows` ratings, in SQL. Every 100th rating's
    value is 7 (parked); every 14th is pending with two failure rows (every
    28th past its max_retries, so parked); of the others 2 in 5 are synced
    (every 250th of those without a remote id); one conflict per 1,000
    ratings."""
    return f"""
INSERT INTO skill_ratings (id, skill_id, user_id, rating, review, created_at, updated_at,
                           synced_at, synced_to_saas, remote_rating_id, tenant_id, helpful_count)
SELECT md5('rating-' || i)::uuid::text, 'skill-' || (i % 500), 'user-' || i,
       CASE WHEN i % 100 = 0 THEN 7 ELSE i % 5 + 1 END,
       CASE WHEN i % 2 = 0 THEN 'Review number ' || i || ', a sentence or two of it.' END,
       t, t + interval '1 hour', CASE WHEN synced THEN t + interval '2 hours' END, synced,
       CASE WHEN synced AND i % 250 <> 1 THEN 'remote-' || i END, 'tenant-' || (i % 3), i % 7
FROM (SELECT i, timestamptz '2025-01-01 00:00:00+00' + i * interval '1 minute' AS t,
             (i % 5 < 2 AND i % 14 <> 0 AND i % 100 <> 0) AS synced
      FROM generate_series(1, {rows}) AS i) AS g;
INSERT INTO failed_rating_uploads (id, rating_id, error_message, failed_at, last_retry_at,
                                   retry_count, max_retries, tenant_id)
SELECT md5('failure-' || i || '-' || n)::uuid::text, md5('rating-' || i)::uuid::text,
       'Upload failed: HTTP 503 Service Unavailable',
       timestamptz '2025-01-01 00:00:00+00' + i * interval '1 minute' + n * interval '3 hours',
       timestamptz '2025-01-01 00:00:00+00' + i * interval '1 minute' + n * interval '3 hours',
       n, CASE WHEN i % 28 = 0 THEN 2 ELSE 5 END, 'tenant-' || (i % 3)
FROM generate_series(14, {rows}, 14) AS i, generate_series(1, 2) AS n;
INSERT INTO conflict_log (id, conflict_type, severity, local_data, remote_data,
                          resolution_strategy, resolved_at, skill_id, created_at)
SELECT md5('conflict-' || i)::uuid::text, 'rating_mismatch', 'medium',
       json_build_object('id', md5('rating-' || i)::uuid::text, 'user_id', 'user-' || i,
                         'rating', i % 5 + 1, 'updated_at', '2025-06-01T10:00:00Z')::text,
       json_build_object('id', 'remote-' || i, 'rating', (i + 1) % 5 + 1,
                         'updated_at', '2025-06-02T10:00:00Z')::text,
       'newest_wins', timestamptz '2025-06-02 10:00:05+00', 'skill-' || (i % 500),
       timestamptz '2025-06-02 10:00:05+00'
FROM generate_series(1000, {rows}, 1000) AS i;
ANALYZE;
"""


class Postgres:
    """The machine's PostgreSQL on a free loopback port, in a temporary
    directory; `stop` stops it and removes the directory."""

    def __init__(self, bin_dir, psql):
        self.bin = Path(bin_dir)
        self.psql = psql
        self.dir = Path(tempfile.mkdtemp(prefix="bench-pg-"))
        self.root = os.geteuid() == 0
        if self.root:
            shutil.chown(self.dir, POSTGRES_USER, POSTGRES_USER)
        self.port = free_port()
        self.run("initdb", "-D", self.dir / "data", "-A", "trust", "-U", "postgres")
        self.run("pg_ctl", "-D", self.dir / "data", "-l", self.dir / "log", "-w", "-o",
                 f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 -c fsync=off",
                 "start")

    @classmethod
    def find(cls):
        """The directory with initdb and pg_ctl, and psql; None if missing."""
        dirs = ["/usr/local/bin", *sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True),
                "/usr/bin"]
        bin_dir = next((d for d in dirs if Path(d, "initdb").exists() and Path(d, "pg_ctl").exists()),
                       None)
        if bin_dir is None:
            return None
        psql = Path(bin_dir, "psql")
        psql = str(psql) if psql.exists() else shutil.which("psql")
        return (bin_dir, psql) if psql else None

    def run(self, program, *args):
        command = [str(self.bin / program), *map(str, args)]
        if self.root:
            command = ["runuser", "-u", POSTGRES_USER, "--"] + command
        done = subprocess.run(command, capture_output=True, stdin=subprocess.DEVNULL)
        if done.returncode != 0:
            raise SystemExit(f"bench: {program} failed: {(done.stdout + done.stderr).decode()[-800:]}")

    def url(self, database):
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def sql(self, database, text):
        subprocess.run([self.psql, "-q", "-v", "ON_ERROR_STOP=1", "-h", "127.0.0.1",
                        "-p", str(self.port), "-U", "postgres", "-d", database],
                       input=text.encode(), check=True, stdout=subprocess.DEVNULL)

    def load(self, database, rows):
        """A database of the later shape with `rows` ratings; seconds taken."""
        started = time.monotonic()
        self.sql("postgres", f"CREATE DATABASE {database};")
        self.sql(database, SCHEMA.read_text() + rows_sql(rows))
        return time.monotonic() - started

    def stop(self):
        try:
            self.run("pg_ctl", "-D", self.dir / "data", "-m", "fast", "-w", "stop")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


def counts(summary, key):
    return sum(entry["count"] for entry in summary.get(key, {}).values())


def high_water_mb(pid):
    """The process's VmHWM in MB, or None once it has exited."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    line = next((l for l in status.splitlines() if l.startswith("VmHWM:")), None)
    return int(line.split()[1]) / 1024 if line else None


def run_import(env, url, server_pid):
    """One `atom-rating-sync --json import`: its summary, wall time, peak
    memory and CPU, and the server's CPU.

    Peak memory is the process's VmHWM (the high-water mark of its resident
    set), read from /proc every 20 ms while it runs: it only grows, so the
    last reading holds every peak but one in the last 20 ms. (wait4's
    ru_maxrss would not do: Linux carries the high-water mark of the
    process that exec'd over, here the forking Python, into it.)"""
    binary = TARGET / "release" / "atom-rating-sync"
    server_before = cpu_seconds(server_pid)
    machine_before = machine_jiffies()
    out = tempfile.TemporaryFile()
    err = tempfile.TemporaryFile()
    started = time.monotonic()
    child = subprocess.Popen([str(binary), "--json", "import", "--from", url], env=env,
                             stdout=out, stderr=err, stdin=subprocess.DEVNULL)
    peak = [0.0]
    done = threading.Event()

    def watch():
        while not done.is_set():
            reading = high_water_mb(child.pid)
            if reading is None:
                return
            peak[0] = max(peak[0], reading)
            done.wait(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    _, status, usage = os.wait4(child.pid, 0)
    done.set()
    watcher.join()
    wall = time.monotonic() - started
    child.returncode = os.waitstatus_to_exitcode(status)
    server_cpu = cpu_seconds(server_pid) - server_before
    busy = machine_busy_since(machine_before)
    out.seek(0)
    err.seek(0)
    if child.returncode != 0:
        raise SystemExit(f"bench: the import failed ({child.returncode}): "
                         f"{err.read().decode(errors='replace')[-800:]}")
    summary = json.loads(out.read())
    return {"summary": summary, "wall": wall, "peak_mb": peak[0],
            "cpu": usage.ru_utime + usage.ru_stime, "server_cpu": server_cpu, "busy": busy,
            "read": summary["read"], "written": counts(summary, "written"),
            "unchanged": counts(summary, "unchanged"), "parked": counts(summary, "parked"),
            "skipped": counts(summary, "skipped"),
            "rate": summary["read"]["ratings"] / wall,
            "items_rate": counts(summary, "written") / wall}


def run_ceiling(backend, endpoint, source_table, items, server_pid, number_of_run):
    """The server's batch-write ceiling: `items` copies of the imported
    ratings written into fresh tables by BatchWriteItem from
    CEILING_THREADS threads with boto3."""
    env = function_env(endpoint, "", f"c{number_of_run}_{backend}_")
    create_tables(env)
    server_before = cpu_seconds(server_pid)
    machine_before = machine_jiffies()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    child = ratings_helper("ceiling", env, "--source", source_table, "--count", items,
                           "--threads", CEILING_THREADS)
    out, _ = child.communicate()
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    writer_cpu = (children.ru_utime + children.ru_stime
                  - children_before.ru_utime - children_before.ru_stime)
    if child.returncode != 0:
        raise SystemExit("bench: bench_ratings.py ceiling failed")
    result = json.loads(out.splitlines()[-1])
    result.update(writer_cpu=writer_cpu, server_cpu=cpu_seconds(server_pid) - server_before,
                  busy=machine_busy_since(machine_before),
                  rate=result["items"] / result["seconds"])
    return result


def import_scenario(backend, endpoint, server_pid, postgres, database, rows, number_of_run):
    """Import, import again, then the ceiling, on one DynamoDB server."""
    env = function_env(endpoint, "", f"i{number_of_run}_{backend}_")
    env["RUST_LOG"] = "warn"
    create_tables(env)
    url = postgres.url(database)
    first = run_import(env, url, server_pid)
    log(f"import {backend}: {first['read']['ratings']:,} ratings in {first['wall']:.1f}s "
        f"({first['rate']:.0f}/s), {first['written']:,} items written, peak {first['peak_mb']:.1f} MB, "
        f"CPU {first['cpu']:.1f}s, server CPU {first['server_cpu']:.1f}s")
    second = run_import(env, url, server_pid)
    log(f"import {backend} again: {second['written']:,} written, {second['unchanged']:,} unchanged "
        f"in {second['wall']:.1f}s, peak {second['peak_mb']:.1f} MB")
    ceiling = run_ceiling(backend, endpoint, env["RATINGS_TABLE"], rows, server_pid, number_of_run)
    log(f"ceiling {backend}: {ceiling['items']:,} items in {ceiling['seconds']:.1f}s "
        f"({ceiling['rate']:.0f}/s), server CPU {ceiling['server_cpu']:.1f}s")
    return {"backend": backend, "rows": rows, "first": first, "second": second, "ceiling": ceiling}


def import_runs(backends, rows, start_dynamodb, processes):
    """Every backend's import_scenario, or None (and why, logged) without
    PostgreSQL."""
    found = Postgres.find()
    if found is None:
        log("import: SKIPPED, no PostgreSQL on this machine (initdb and pg_ctl, and psql, are "
            "needed); its section of the page is left as it was")
        return None
    postgres = Postgres(*found)
    try:
        database = f"python_service_{rows}"
        load_seconds = postgres.load(database, rows)
        log(f"import: PostgreSQL on port {postgres.port}, {rows:,} ratings loaded in {load_seconds:.1f}s")
        results = []
        for number_of_run, backend in enumerate(backends, 1):
            endpoint, server_pid = start_dynamodb(backend, processes)
            results.append(import_scenario(backend, endpoint, server_pid, postgres, database,
                                           rows, number_of_run))
            processes.stop(server_pid)
        return {"runs": results, "load_seconds": load_seconds,
                "postgres": subprocess.run([str(Path(found[0], "pg_ctl")), "--version"],
                                           capture_output=True, text=True).stdout.strip()}
    finally:
        postgres.stop()


def written_by_kind(summary):
    parts = [f"{entry['count']:,} {reason}" for reason, entry in sorted(summary["written"].items())]
    return "; ".join(parts)


def import_section(measured_runs, started_at):
    runs = measured_runs["runs"]
    lines = [
        "## Import from PostgreSQL",
        "",
        measured(started_at, "import"),
        "",
        f"`atom-rating-sync import --json --from postgres://…` (the release build) reads a database of the",
        "Python service's later shape (the DDL the import tests use, `infra/python-service/later.sql`)",
        f"from the machine's own PostgreSQL ({measured_runs['postgres']}, on loopback, `fsync=off`, loaded by",
        f"generate_series in {measured_runs['load_seconds']:.1f} s), into the functions' tables on a local DynamoDB server",
        "(created by `local-stack create-tables`, empty before the first import). Every 100th rating is valued 7",
        "(parked); every 14th is pending with two failure rows (every 28th past its `max_retries`, so parked);",
        "of the others, 2 in 5 are synced (one in 250 of those without a remote id), the rest pending; one",
        "conflict per 1,000 ratings.",
        "Wall time is from spawning the process to its exit (connection, shape check and summary included);",
        "ratings/s is ratings read over that; items are the summary's `written` (ratings, dead-letter items,",
        "conflicts; the skills it registers for the pull are not counted). Peak memory is the process's",
        "VmHWM (the high-water mark of its resident set), read from /proc every 20 ms while it runs; CPU is",
        "its user + system time (wait4), and the server's",
        "CPU is read from /proc over the same span; machine busy is the share of both cores busy meanwhile,",
        "whatever ran (the machine may be shared). The second import runs on the same tables: it must write",
        "nothing.",
        "",
        f"The ceiling is the same server's own: as many items as ratings read, copies of the imported rating",
        f"items (new ids of the same length, the same attributes), written into a fresh ratings table by",
        f"BatchWriteItem, 25 a request, from {CEILING_THREADS} threads with boto3 (`bench_ratings.py ceiling`), unprocessed",
        "items sent again; its time runs from the first request to the last answer, and the writer's CPU is",
        "the boto3 process's own (Python: on 2 cores it competes with the server). The import's own writes",
        "are BatchWriteItem, 25 a request, up to 8 in flight, after a BatchGetItem of each 500-row page.",
        "",
        "| DynamoDB server | ratings read (failure rows, conflicts) | import | wall | ratings/s | items written | items/s | unchanged | peak memory | import CPU | server's CPU | machine busy |",
        "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        for label, run in (("first", r["first"]), ("second", r["second"])):
            read = run["read"]
            lines.append(
                f"| {r['backend']} | {read['ratings']:,} ({read['failure_rows']:,}, {read['conflicts']:,}) "
                f"| {label} | {run['wall']:.1f} s | {number(run['rate'], 0)} | {run['written']:,} "
                f"| {number(run['items_rate'], 0)} | {run['unchanged']:,} | {run['peak_mb']:.1f} MB "
                f"| {run['cpu']:.1f} s | {run['server_cpu']:.1f} s | {number((run['busy'] or 0) * 100, 0)}% |")
    lines += [
        "",
        "| DynamoDB server | ceiling: items | item size | time | items/s | requests | items sent again | writer's CPU | server's CPU | machine busy |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in runs:
        c = r["ceiling"]
        lines.append(
            f"| {r['backend']} | {c['items']:,} | ~{c['item_bytes']:.0f} B | {c['seconds']:.1f} s "
            f"| {number(c['rate'], 0)} | {c['requests']:,} | {c['retried']:,} | {c['writer_cpu']:.1f} s | {c['server_cpu']:.1f} s "
            f"| {number((c['busy'] or 0) * 100, 0)}% |")
    lines.append("")
    for r in runs:
        first, second, c = r["first"], r["second"], r["ceiling"]
        peak = max(first["peak_mb"], second["peak_mb"])
        lines += [
            f"On {r['backend']}, the import wrote {number(first['items_rate'], 0)} items/s "
            f"({number(first['rate'], 0)} ratings/s), {first['items_rate'] / c['rate'] * 100:.0f}% of the "
            f"server's ceiling of {number(c['rate'], 0)} items/s in the same run; "
            f"the second import wrote {second['written']:,} items in {second['wall']:.1f} s. "
            + (f"The import is above that ceiling: the ceiling's writer, boto3 in Python on the same "
               f"cores (its CPU {c['writer_cpu']:.1f} s, the server's {c['server_cpu']:.1f} s), is what "
               f"bounds it here, not the server; the import's own CPU was {first['cpu']:.1f} s. "
               if first["items_rate"] > c["rate"] else "")
            + f"Its peak memory, {peak:.1f} MB over both imports, is "
            + (f"within the bound of {MEMORY_BOUND_MB} MB for 100,000 rows (issue 19)."
               if peak <= MEMORY_BOUND_MB else f"**over** the bound of {MEMORY_BOUND_MB} MB (issue 19).")
            + f" Written by the first: {written_by_kind(first['summary'])}.",
            "",
        ]
    return {"Import from PostgreSQL": lines}
