#!/usr/bin/env python3
"""The benchmark (`make bench`): how fast the sync delivers ratings,
against the physical limit.

With C marketplace requests in flight and a marketplace latency of L, no
sync can deliver more than C/L ratings per second. This runs the real
release binaries of the functions through a minimal Lambda Runtime API
served here, against a local DynamoDB server and the marketplace simulator
with latency L, and writes what it measured to docs/BENCHMARKS.md. Scenarios:

* drain: `scheduled-rating-sync` drains a seeded backlog of 1,000 and 10,000
  (one EventBridge event, a 15-minute deadline), without and with 5%
  transient failures: drain time, ratings per second and the ratio to C/L,
  DynamoDB requests per synced rating (as the function's client counted
  them), peak resident memory and CPU time, time from process start to its
  first request for an event; and the arm64 release binary size of each
  function under functions/ against its 8 MiB bound, if cargo-lambda can
  build them; the function's resident memory sampled every 50 ms over the
  largest drain on dynalite (picture: memory);
* freshness: the fast path (issue 13) on moto with the table's stream:
  ratings written at 20/s for 60 s, `local-stack stream-poller` invoking
  `stream-rating-sync` through the Runtime API here (as Lambda's Invoke API),
  the scheduled function invoked every 20 s meanwhile; seconds from each
  write to the marketplace's acceptance (p50, p95, p99, max), marketplace
  requests and DynamoDB writes per rating, and whether each rating was
  created exactly once (picture: freshness, each rating's seconds);
* burst: 1,000 ratings written at once, drained by the fast path alone:
  through moto and the poller, and on dynalite with the bench playing the
  stream (events of the mapping's batch size, one in flight) for the
  function's own rate (picture: burst, each rating's seconds);
* pull: 300 registered skills, nothing to push: skill reads per second of a
  scheduled run's pull against C/L;
* sweep: the drain of 2,000 and the pull of 300 skills again on dynalite at
  L = 200, 100, 50, 20, 10 and 5 ms (C/L from 50/s to 2,000/s), one run each
  (picture: throughput, both against C/L);
* import (issue 19): `atom-rating-sync import` of 100,000 ratings from the
  machine's PostgreSQL (skipped, with a message, without one): ratings and
  items per second, peak memory and CPU, a second import (nothing written),
  and the server's own batch-write ceiling measured in the same run.

Pictures: each scenario that has one writes its data next to the page,
docs/bench/<name>.json, and bench_plots.py (matplotlib, run with .venv's
python) draws docs/bench/<name>.svg from it; its section embeds it.

Two DynamoDB servers: dynalite (npm, fast; the sync needs nothing it lacks
but a stream) and moto (the one the tests use; slow, and slower as tables
grow; it serves DynamoDB Streams). Where the server is the bottleneck, the
report says so. Everything listens on 127.0.0.1 and stops at the end.
The pieces: bench_stack.py (the servers, the Runtime API, the function
processes), bench_fast_path.py (freshness, burst, pull), bench_sweep.py
(sweep), bench_import.py (import), bench_ratings.py (ratings written and
read with boto3, run with .venv's python), bench_plots.py (the pictures).

`--scenarios` runs only some; the report then replaces only their sections
of docs/BENCHMARKS.md (one `## ` heading each), and their pictures, and
keeps the others.

Usage: python3 infra/bench/bench.py [--scenarios drain,freshness,burst,pull,sweep,import]
                                    [--sizes 1000,10000] [--backends dynalite,moto]
                                    [--import-rows 100000]
                                    [--skip-arm64] [--out docs/BENCHMARKS.md]
"""

import argparse
import json
import os
import subprocess
import time
import tomllib
from pathlib import Path

from bench_fast_path import (PULL_RUNS, STREAM_FUNCTION, burst_figure, burst_moto,
                             burst_played, burst_section, freshness_figure, freshness_scenario,
                             freshness_section, pull_scenario, pull_section)
from bench_import import IMPORT_ROWS, import_runs, import_section
from bench_sweep import SWEEP_RATINGS, sweep_figure, sweep_scenario, sweep_section
from bench_stack import (CONCURRENCY, FUNCTIONS, LATENCY_MS, PICTURES, ROOT, SCHEDULED_EVENT,
                         TARGET, VENV, FunctionProcess, Processes, RssSampler, RuntimeApi,
                         cpu_seconds, create_tables, function_env, log, machine, measured,
                         number, picture, proc_status, sim, start_dynamodb, start_simulator,
                         verdict)

# How often the drain samples the function's resident memory, in seconds.
RSS_EVERY = 0.05


def run_scenario(backend, endpoint, sim_url, size, fail_rate, latency_ms, number, servers):
    prefix = f"b{number}_{backend}_{size}_"
    env = function_env(endpoint, sim_url, prefix)
    stack = TARGET / "release" / "local-stack"
    create_tables(env)
    started = time.monotonic()
    subprocess.run([str(stack), "seed", "--count", str(size), "--invalid", "0"],
                   env=env, check=True, stdout=subprocess.DEVNULL)
    seed_seconds = time.monotonic() - started
    sim(sim_url, "reset", {})
    sim(sim_url, "config", {"latency_ms": latency_ms, "fail_rate": fail_rate, "fail_status": 503})

    api = RuntimeApi("scheduled-rating-sync", 900)
    invocation = api.submit(SCHEDULED_EVENT)
    servers_cpu_before = sum(cpu_seconds(pid) for pid in servers)
    function = FunctionProcess("scheduled-rating-sync", env, api)
    spawned = function.spawned
    # Its memory over the run, for the picture (docs/bench/memory.svg).
    sampler = RssSampler(function.pid, spawned, RSS_EVERY)
    function.wait(invocation, 1800)
    answered = time.monotonic() - spawned
    rss = sampler.stop()
    peak_mb, function_cpu = proc_status(function.pid)
    wall = time.monotonic() - spawned
    servers_cpu = sum(cpu_seconds(pid) for pid in servers) - servers_cpu_before
    function.kill()
    api.close()
    output = function.output

    if invocation.failed:
        raise SystemExit(f"bench: the function failed: {invocation.body[:500]!r}")
    report = json.loads(invocation.body)
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
        "rss": rss, "answered_s": answered,
    }
    log(f"{backend} {size} fail={fail_rate} L={latency_ms}ms: {synced} in {seconds:.1f}s "
        f"({result['rate']:.0f}/s), peak {peak_mb:.1f} MB, CPU function {function_cpu:.1f}s "
        f"servers {servers_cpu:.1f}s, answers {result['answer_ms'] or 0:.0f} ms, {report['message']}")
    return result


def memory_figure(results):
    """The data of docs/bench/memory.svg (bench_plots.py): the resident
    memory over the largest drain on dynalite without failures at L =
    LATENCY_MS (10,000 by default), or None if there was none."""
    runs = [r for r in results if r["backend"] == "dynalite" and r["fail_rate"] == 0
            and r["latency_ms"] == LATENCY_MS and r["rss"]]
    if not runs:
        return None
    r = max(runs, key=lambda r: r["size"])
    return {"backend": r["backend"], "backlog": r["size"], "latency_ms": r["latency_ms"],
            "interval_ms": round(RSS_EVERY * 1000), "hwm_mb": round(r["peak_mb"], 2),
            "answered_s": round(r["answered_s"], 3),
            "samples": [[round(t, 3), round(mb, 2)] for t, mb in r["rss"]]}


def draw_pictures(out, figures):
    """Writes each figure's data next to the page (docs/bench/<name>.json)
    and draws it (bench_plots.py, with .venv's python: matplotlib); True if
    every one was drawn."""
    if not figures:
        return True
    directory = Path(out).parent / PICTURES
    directory.mkdir(parents=True, exist_ok=True)
    for name, data in figures.items():
        # One key a line, each value compact: short, and readable at a glance.
        (directory / f"{name}.json").write_text("{\n" + ",\n".join(
            f" {json.dumps(key)}: {json.dumps(value, separators=(',', ':'))}"
            for key, value in data.items()) + "\n}\n")
    try:
        drawn = subprocess.run([str(VENV / "python"),
                                str(ROOT / "infra" / "bench" / "bench_plots.py"),
                                "--dir", str(directory), *figures]).returncode == 0
    except OSError as error:  # no .venv: `make bench` bootstraps it
        log(f"bench_plots.py did not start: {error}")
        drawn = False
    if not drawn:
        log(f"drawing {', '.join(figures)} failed; the data is in {directory}: redraw with "
            f".venv/bin/python infra/bench/bench_plots.py")
    return drawn


# Issue 18: each function's arm64 release binary.
SIZE_LIMIT_MIB = 8
MIB = 1_048_576


def arm64_sizes():
    """The arm64 release binary of every function under functions/, built as
    `make package` and `sam build` build them: {"sizes": {name: bytes},
    "seconds": the build's wall time}, or {} if cargo-lambda is missing or
    the build failed."""
    cargo_lambda = VENV / "cargo-lambda"
    if not cargo_lambda.exists():
        return {}
    log("building the arm64 release binaries with cargo-lambda (several minutes)")
    env = dict(os.environ, PATH=f"{VENV}:{os.environ['PATH']}")
    started = time.monotonic()
    done = subprocess.run(["cargo", "lambda", "build", "--release", "--arm64"]
                          + [arg for name in FUNCTIONS for arg in ("--bin", name)],
                          cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    seconds = time.monotonic() - started
    if done.returncode != 0:
        log("cargo lambda build failed: " + done.stderr.decode(errors="replace")[-800:])
        return {}
    sizes = {}
    for name in FUNCTIONS:
        binary = TARGET / "lambda" / name / "bootstrap"
        if binary.exists():
            sizes[name] = binary.stat().st_size
    return {"sizes": sizes, "seconds": seconds}


def release_profile():
    """Cargo.toml's [profile.release], in the words of the file, and any
    CARGO_PROFILE_RELEASE_* override the build saw."""
    profile = tomllib.loads((ROOT / "Cargo.toml").read_text())["profile"]["release"]
    def settings(table):
        return ", ".join(f"`{key} = {json.dumps(value)}`" for key, value in table.items()
                         if not isinstance(value, dict))
    words = settings(profile)
    for package, table in profile.get("package", {}).items():
        who = "every dependency" if package == "*" else f"`{package}`"
        words += f"; for {who} {settings(table)}"
    overrides = sorted(f"`{k}={v}`" for k, v in os.environ.items()
                       if k.startswith("CARGO_PROFILE_RELEASE_"))
    if overrides:
        words += "; overridden from the environment: " + ", ".join(overrides)
    return words


PREAMBLE = [
    "# Benchmarks",
    "",
    "Written by `make bench` (`python3 infra/bench/bench.py`), which runs every scenario: `drain`,",
    "`freshness`, `burst`, `pull`, `sweep` and `import`. `python3 infra/bench/bench.py --scenarios a,b` runs only those and",
    "replaces only their sections below (a section is a `## ` heading and what follows it, up to",
    "the next; sections of other scenarios are kept as they were), so each section says when,",
    "and on what machine, it was measured, and the command that re-runs it alone.",
    "The pictures are SVG files in [bench/](bench/), each drawn (matplotlib) from the JSON file of",
    "the same name beside it, the measured data, written by the scenario of the section that shows",
    "it: `.venv/bin/python infra/bench/bench_plots.py` redraws them without measuring again. SVG,",
    "with its text as text: sharp at any zoom, small, searchable, and redrawn byte for byte the same",
    "from the same data, so a change in a picture is a change in the data.",
    "Re-run after every change that touches the sync path.",
]


def drain_sections(results, sizes, started_at, memory=None):
    """The scheduled function's drain: {heading: lines}; `memory`, the data
    of the memory picture, if there is one."""
    method = [
        "## Method",
        "",
        measured(started_at, "drain"),
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
    ]
    lines = [
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
    if memory:
        lines += picture(
            "memory", f"Resident memory of scheduled-rating-sync in MB against seconds over a "
            f"drain of {memory['backlog']:,} on {memory['backend']}, its peak marked",
            f"The line is the process's resident memory, read from /proc every "
            f"{memory['interval_ms']} ms by the bench from the process's start to its answer "
            "(dashed); the dot is the highest sample, the dotted line the kernel's own peak "
            "(VmHWM, the table's peak memory), read once the run answered: the two differ by "
            "what came between samples and by the kernel updating VmHWM lazily, so that it can "
            "lie a little below the highest sample.")
    sections = {"Method": method, "Results": lines}
    if sizes and sizes["sizes"]:
        title = "Release binaries (arm64, stripped, built by `cargo lambda build --release --arm64`)"
        largest = max(sizes["sizes"].values())
        binaries = [
            f"## {title}", "",
            f"Measured {started_at} on {machine()}. Re-run alone: "
            "`python3 infra/bench/bench.py --scenarios drain` (without `--skip-arm64`).", "",
            f"Bound: at most {SIZE_LIMIT_MIB} MiB for each function under `functions/` "
            f"(largest: {largest / MIB:.1f} MiB, {verdict(largest <= SIZE_LIMIT_MIB * MIB)}). Built as "
            "`make package` and `sam build` build them, one `cargo lambda build` for all, with the "
            f"workspace's release profile: {release_profile()}; "
            f"`cargo lambda build` took {sizes['seconds'] / 60:.0f} min here (less than a clean build "
            "when `target/` already held part of it).",
            "",
            "What it took: with thin LTO, 4 codegen units and opt-level 3 throughout (the profile",
            "before 2026-12-05) the binaries were 8.9 to 12.1 MiB. Fat LTO in one codegen unit and",
            'the dependencies (the AWS SDK, rustls and aws-lc, tokio, serde, ...) at opt-level "s" made',
            "them 5.4 to 7.3 MiB (40% less), the project's own crates still at opt-level 3; fat LTO",
            "and one codegen unit alone left them at 7.2 to 9.5 MiB. The traces (issue 20:",
            "OpenTelemetry, the X-Ray exporter and the regex engine it validates names with) added",
            'about 1.1 MiB: admin-sync-ratings was 8.4 MiB with the dependencies at "s"; at "z" it',
            "is what the table shows. The cost is build time: a clean arm64 build of the seven took",
            "23 min, against 15.5 min before (2 cores shared with other builds, so roughly). The",
            "drain above runs a release build with the same profile, so its CPU per rating and its",
            "time to the first request show what \"z\" and the traces' spans cost in speed (before both,",
            "at \"s\": 0.37 to 0.40 ms of function CPU per rating on dynalite at L = 50 ms, 2026-12-05",
            "21:12). `panic = \"abort\"` is not used: the Lambda",
            "runtime reports a handler's panic as an error only if the panic unwinds.",
            "", f"| function | size | at most {SIZE_LIMIT_MIB} MiB |", "|---|---:|---|"]
        binaries += [f"| {name} | {size / MIB:.1f} MiB | {verdict(size <= SIZE_LIMIT_MIB * MIB)} |"
                     for name, size in sorted(sizes["sizes"].items())]
        sections[title] = binaries + [""]
    return sections


def parse_sections(text):
    """The `## ` sections of a BENCHMARKS.md, in order: [(heading, lines)]."""
    sections = []
    for line in text.splitlines():
        if line.startswith("## "):
            sections.append((line[3:].strip(), [line]))
        elif sections:
            sections[-1][1].append(line)
    return sections


def merge_report(path, new_sections):
    """Writes the preamble, then the file's sections with those of this run
    in place of the ones of the same heading (new headings at the end)."""
    path = Path(path)
    old = parse_sections(path.read_text()) if path.exists() else []
    merged = [(title, new_sections.pop(title, lines)) for title, lines in old]
    merged += list(new_sections.items())
    out = PREAMBLE + [""]
    for _, lines in merged:
        while lines and not lines[-1].strip():
            lines = lines[:-1]
        out += lines + [""]
    path.write_text("\n".join(out))
    log(f"wrote {path}")


SCENARIOS = ("drain", "freshness", "burst", "pull", "sweep", "import")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenarios", default=",".join(SCENARIOS),
                        help="which to run, of " + ", ".join(SCENARIOS))
    parser.add_argument("--sizes", default="1000,10000", help="drain: backlog sizes")
    parser.add_argument("--backends", default="dynalite,moto", help="drain, import: DynamoDB servers")
    parser.add_argument("--import-rows", type=int, default=IMPORT_ROWS,
                        help="import: ratings in the PostgreSQL database")
    parser.add_argument("--skip-arm64", action="store_true", help="drain: no arm64 binary sizes")
    parser.add_argument("--out", default=str(ROOT / "docs" / "BENCHMARKS.md"))
    args = parser.parse_args()
    chosen = [name.strip() for name in args.scenarios.split(",") if name.strip()]
    unknown = sorted(set(chosen) - set(SCENARIOS))
    if unknown:
        parser.error(f"unknown scenario(s) {', '.join(unknown)}: use {', '.join(SCENARIOS)}")
    sizes = [int(s) for s in args.sizes.split(",")]
    started_at = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())

    packages = ["local-stack"]
    if set(chosen) - {"import"}:
        packages.append("scheduled-rating-sync")
    if {"freshness", "burst"} & set(chosen):
        packages.append(STREAM_FUNCTION)
    if "import" in chosen:
        packages.append("atom-rating-sync")
    subprocess.run(["cargo", "build", "--release"] + [a for p in packages for a in ("-p", p)],
                   cwd=ROOT, check=True)
    (ROOT / ".local").mkdir(parents=True, exist_ok=True)
    processes = Processes()
    sections = {}
    # The pictures' data, {name: data}: docs/bench/<name>.json and .svg.
    figures = {}
    try:
        sim_url, sim_pid = start_simulator(processes)
        if "drain" in chosen:
            results = []
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
                processes.stop(db_pid)
            binary_sizes = {} if args.skip_arm64 else arm64_sizes()
            memory = memory_figure(results)
            if memory:
                figures["memory"] = memory
            sections.update(drain_sections(results, binary_sizes, started_at, memory))
        if "freshness" in chosen:
            # A fresh moto for each scenario: its tables and stream start empty.
            endpoint, moto_pid = start_dynamodb("moto", processes)
            fresh = freshness_scenario(endpoint, sim_url, moto_pid, sim_pid)
            figures["freshness"] = freshness_figure(fresh)
            sections.update(freshness_section(fresh, started_at))
            processes.stop(moto_pid)
        if "burst" in chosen:
            endpoint, moto_pid = start_dynamodb("moto", processes)
            bursts = [burst_moto(endpoint, sim_url, moto_pid)]
            processes.stop(moto_pid)
            endpoint, dynalite_pid = start_dynamodb("dynalite", processes)
            bursts.append(burst_played(endpoint, sim_url, dynalite_pid))
            processes.stop(dynalite_pid)
            figures["burst"] = burst_figure(bursts)
            sections.update(burst_section(bursts, started_at))
        if "pull" in chosen:
            endpoint, dynalite_pid = start_dynamodb("dynalite", processes)
            pulls = [pull_scenario("dynalite", endpoint, sim_url, [dynalite_pid, sim_pid], n)
                     for n in range(1, PULL_RUNS + 1)]
            sections.update(pull_section(pulls, started_at))
            processes.stop(dynalite_pid)
        if "sweep" in chosen:
            endpoint, dynalite_pid = start_dynamodb("dynalite", processes)
            servers = [dynalite_pid, sim_pid]
            points = sweep_scenario(
                lambda latency, n: run_scenario("dynalite", endpoint, sim_url, SWEEP_RATINGS,
                                                0.0, latency, f"sweep{n}", servers),
                lambda latency, n: pull_scenario("dynalite", endpoint, sim_url, servers, n,
                                                 latency_ms=latency, prefix="sweeppull"))
            processes.stop(dynalite_pid)
            figures["throughput"] = sweep_figure(points)
            sections.update(sweep_section(points, started_at))
        if "import" in chosen:
            imports = import_runs(args.backends.split(","), args.import_rows, start_dynamodb,
                                  processes)
            if imports:
                sections.update(import_section(imports, started_at))
    finally:
        processes.stop_all()
        # What finished is written even if a later scenario failed.
        drawn = draw_pictures(args.out, figures)
        if sections:
            merge_report(args.out, sections)
    if not drawn:
        raise SystemExit("bench: a picture was not drawn (see above)")


if __name__ == "__main__":
    main()
