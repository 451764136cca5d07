"""The benchmark's sweep (infra/bench/bench.py): the push (a scheduled
drain) and the pull measured at several marketplace latencies L, C fixed,
so that their throughput can be drawn against C/L (docs/bench/throughput.svg);
and its section of docs/BENCHMARKS.md."""

from bench_fast_path import PULL_SKILLS
from bench_stack import CONCURRENCY, log, measured, number, picture

# C/L from 50/s to 2,000/s: from the slow marketplace where the sync only
# waits to where the sync, the DynamoDB server and the simulator, on the
# same cores, are the limit.
SWEEP_LATENCIES_MS = (200, 100, 50, 20, 10, 5)
SWEEP_RATINGS = 2000


def sweep_scenario(drain, pull):
    """For each L in SWEEP_LATENCIES_MS, `drain(L, n)` (bench.py's
    run_scenario on a backlog of SWEEP_RATINGS) and `pull(L, n)`
    (pull_scenario): their results, side by side."""
    points = []
    for n, latency_ms in enumerate(SWEEP_LATENCIES_MS, start=1):
        log(f"sweep: L = {latency_ms} ms, C/L = {CONCURRENCY * 1000 / latency_ms:.0f}/s")
        points.append({"latency_ms": latency_ms, "push": drain(latency_ms, n),
                       "pull": pull(latency_ms, n)})
    return points


def sweep_section(points, started_at):
    lines = [
        "## Throughput against C/L",
        "",
        measured(started_at, "sweep"),
        "",
        f"The push and the pull at {len(points)} marketplace latencies, C = {CONCURRENCY} requests in",
        "flight throughout, on dynalite, each on fresh tables. The push: a drain of a backlog of",
        f"{SWEEP_RATINGS:,} by one scheduled run, measured as in [Results](#results) (ratings/s: the",
        f"run's `duration_ms`, lease to report). The pull: {PULL_SKILLS} registered skills read back by a",
        "scheduled run with nothing to push, measured as in [Pull](#pull) (skill reads/s: the simulator's",
        "log). One run each per L. The function, dynalite and the simulator share the machine's cores:",
        "machine busy is their CPU time over the run's wall time, of all cores.",
        "",
        *picture("throughput", "Log-log plot of measured ratings per second (push) and skill "
                 "reads per second (pull) against C/L from "
                 f"{CONCURRENCY * 1000 / max(p['latency_ms'] for p in points):,.0f} to "
                 f"{CONCURRENCY * 1000 / min(p['latency_ms'] for p in points):,.0f} per second, "
                 "with the ideal line y = C/L and the 0.9 C/L target, and below, each run as a "
                 "share of C/L",
                 "Each point is one run, its L on the top axis; on the dashed line a run would "
                 "reach the physical limit, above the dotted one it meets the target of 0.9 C/L, "
                 "and where a line bends away below them, something other than the "
                 "marketplace's latency holds it back; the lower panel shows the same runs as "
                 "a share of C/L, where that gap reads best."),
    ]
    lines += [
        "| L | C/L | push: drain time | ratings/s | ratio | ≥ 0.9 C/L | pull: time | skill reads/s | ratio | ≥ 0.9 C/L | machine busy: push, pull |",
        "|---:|---:|---:|---:|---:|---|---:|---:|---:|---|---:|",
    ]
    for p in points:
        push, pull = p["push"], p["pull"]
        limit = CONCURRENCY * 1000 / p["latency_ms"]
        lines.append(
            f"| {p['latency_ms']} ms | {limit:,.0f}/s | {number(push['seconds'], 2)} s "
            f"| {number(push['rate'], 0)} | {number(push['ratio'])} | {yes(at_target(push))} "
            f"| {number(pull['seconds'], 2)} s | {number(pull['rate'], 0)} | {number(pull['ratio'])} "
            f"| {yes(at_target(pull))} "
            f"| {number(push['machine_busy'] * 100, 0)}%, {number(pull['machine_busy'] * 100, 0)}% |")
    lines += ["", held("The push", points, "push") + " " + held("The pull", points, "pull"), "",
              "The target of 0.9 C/L is set at L = 50 ms; the other rows show how far the sync",
              "follows the marketplace when it answers slower or faster.", "",
              "Every push: " + "; ".join(sorted({p["push"]["message"] for p in points})), ""]
    return {"Throughput against C/L": lines}


def at_target(result):
    return result["ratio"] is not None and result["ratio"] >= 0.9


def yes(value):
    return "yes" if value else "no"


def held(what, points, kind):
    """A sentence: up to which C/L the runs of `kind` met 0.9 C/L, and
    where they did not."""
    up_to = None
    for p in sorted(points, key=lambda p: -p["latency_ms"]):
        if not at_target(p[kind]):
            break
        up_to = p
    below = [f"{number(p[kind]['ratio'])} at {CONCURRENCY * 1000 / p['latency_ms']:,.0f}/s"
             for p in points if not at_target(p[kind])]
    if not below:
        return f"{what} met 0.9 C/L at every C/L here."
    reach = (f"up to C/L = {CONCURRENCY * 1000 / up_to['latency_ms']:,.0f}/s "
             f"(L = {up_to['latency_ms']} ms)" if up_to else "at no C/L here")
    return f"{what} met 0.9 C/L {reach}; below it: {', '.join(below)}."


def sweep_figure(points):
    """The data of docs/bench/throughput.svg (bench_plots.py)."""
    rows = []
    for p in points:
        for kind in ("push", "pull"):
            r = p[kind]
            rows.append({"kind": kind, "latency_ms": p["latency_ms"],
                         "limit": CONCURRENCY * 1000 / p["latency_ms"],
                         "rate": round(r["rate"], 2) if r["rate"] else None,
                         "seconds": round(r["seconds"], 4) if r["seconds"] else None})
    return {"backend": "dynalite", "concurrency": CONCURRENCY, "push_ratings": SWEEP_RATINGS,
            "pull_skills": PULL_SKILLS, "points": rows}
