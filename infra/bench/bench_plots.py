#!/usr/bin/env python3
"""The benchmark's pictures (`make bench`, infra/bench/bench.py): each
scenario that has one writes its measured data to docs/bench/<name>.json,
and this draws docs/bench/<name>.svg from it (matplotlib, run with .venv's
python), so a picture can be redrawn, or restyled, without measuring again:

    .venv/bin/python infra/bench/bench_plots.py [--dir docs/bench] [name ...]

Without a name it draws every picture whose data is there. The pictures:

* throughput (the `sweep` scenario): ratings (the push) and skill reads (the
  pull) per second against C/L, the ideal y = C/L and the 0.9 C/L bound, and
  below, the same as a share of C/L;
* freshness (the `freshness` scenario): the fast path's seconds from each
  write to the marketplace's acceptance under steady writes, a histogram;
* burst (the `burst` scenario): the same seconds for a burst, as the share
  of the burst accepted within so many seconds of its write, beside a
  drain at C/L;
* memory (the `drain` scenario): the scheduled function's resident memory
  over a drain, sampled from /proc, its peak marked.

SVG, with its text as text (no font embedded): small, diffable, sharp at
any size, and redrawn byte for byte the same from the same data.
"""

import argparse
import json
import sys
from pathlib import Path

import matplotlib
import numpy

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after the backend is chosen)
from matplotlib.ticker import FuncFormatter, PercentFormatter  # noqa: E402
from bench_stack import percentile  # noqa: E402  (the page's own percentiles)

DEFAULT_DIR = Path(__file__).resolve().parents[2] / "docs" / "bench"
STYLE = {
    "svg.fonttype": "none",  # text stays text: searchable, diffable, small
    "svg.hashsalt": "atom-rating-sync-bench",  # the same ids every time
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans", "Helvetica", "Arial", "sans-serif"],
    "font.size": 10,
    "axes.titlesize": 11,
    "axes.grid": True,
    "grid.alpha": 0.3,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "legend.frameon": False,
}
SIZE = (7.5, 4.2)
PUSH, PULL, THIRD, BOUND = "#1f77b4", "#d95f02", "#2ca02c", "#555555"


def plain(value, _position=None):
    """A tick label without a needless `.0`: 50, 0.5, 2,000."""
    return f"{value:,.0f}" if value >= 10 or value == int(value) else f"{value:g}"


def save(figure, path):
    figure.tight_layout()
    figure.savefig(path, format="svg", metadata={"Date": None})
    plt.close(figure)


def throughput(data, path):
    """Measured rate against C/L, log-log: the push and the pull, the ideal
    and the 0.9 bound, L on the top axis (C is fixed); below, the same runs
    as a share of C/L, where the gap to the target reads best."""
    concurrency = data["concurrency"]
    figure, (axes, shares) = plt.subplots(2, 1, sharex=True, figsize=(SIZE[0], 6.4),
                                          height_ratios=(2.2, 1))
    limits = sorted({p["limit"] for p in data["points"]})
    low, high = limits[0] / 1.5, limits[-1] * 1.5
    axes.plot([low, high], [low, high], color=BOUND, linestyle="--", linewidth=1,
              label="ideal: C/L")
    axes.plot([low, high], [0.9 * low, 0.9 * high], color=BOUND, linestyle=":", linewidth=1,
              label="target: 0.9 C/L")
    shares.axhline(1, color=BOUND, linestyle="--", linewidth=1)
    shares.axhline(0.9, color=BOUND, linestyle=":", linewidth=1)
    for kind, label, color, marker in (("push", "push: a drain's ratings/s", PUSH, "o"),
                                       ("pull", "pull: skill reads/s", PULL, "s")):
        points = sorted((p for p in data["points"] if p["kind"] == kind and p["rate"]),
                        key=lambda p: p["limit"])
        if points:
            x = [p["limit"] for p in points]
            axes.plot(x, [p["rate"] for p in points], color=color, marker=marker, label=label,
                      gid=kind)
            shares.plot(x, [p["rate"] / p["limit"] for p in points], color=color,
                        marker=marker, gid=f"{kind}-share")
    axes.set_xscale("log")
    axes.set_yscale("log")
    axes.set_xlim(low, high)
    axes.set_ylim(low / 1.5, high)
    for axis in (axes.xaxis, axes.yaxis, shares.xaxis):
        axis.set_major_formatter(FuncFormatter(plain))
        axis.set_minor_formatter(FuncFormatter(lambda v, p: ""))
    shares.set_xticks(limits)
    shares.set_xlabel(f"C/L, the physical limit (per second; C = {concurrency} requests in flight)")
    axes.set_ylabel("measured (per second)")
    shares.set_ylim(0, 1.1)
    shares.set_yticks([0, 0.25, 0.5, 0.9, 1])
    shares.yaxis.set_major_formatter(PercentFormatter(1.0))
    shares.set_ylabel("measured / C/L")

    # C/L in 1/s from L in ms and back (the same function); never 0 on a log axis.
    def flip(value):
        return concurrency * 1000 / numpy.maximum(value, 1e-9)

    top = axes.secondary_xaxis("top", functions=(flip, flip))
    top.set_xticks(sorted({p["latency_ms"] for p in data["points"]}))
    top.xaxis.set_major_formatter(FuncFormatter(plain))
    top.xaxis.set_minor_formatter(FuncFormatter(lambda v, p: ""))
    top.set_xlabel("L, the marketplace's latency (ms)")
    axes.set_title(f"Throughput against C/L ({data['backend']}, {data['push_ratings']:,} ratings "
                   f"pushed, {data['pull_skills']:,} skills pulled per point)")
    axes.legend(loc="upper left")
    save(figure, path)


def freshness(data, path):
    """A histogram of the steady run's write-to-acceptance seconds, its
    percentiles marked."""
    delays = [d for d in data["delays"] if d is not None]
    missing = len(data["delays"]) - len(delays)
    figure, axes = plt.subplots(figsize=SIZE)
    width = 0.005
    top = max(delays, default=width)
    bins = [i * width for i in range(int(top / width) + 2)]
    axes.hist(delays, bins=bins, color=PUSH, alpha=0.85, label=f"{len(delays):,} ratings")
    for share, style in ((0.5, "--"), (0.99, ":")):
        value = percentile(delays, share)
        if value is not None:
            axes.axvline(value, color=BOUND, linestyle=style, linewidth=1.2,
                         label=f"p{int(share * 100)}: {value:.3f} s")
    axes.set_xlim(0, bins[-1])
    # Room above the bars for the legend.
    axes.set_ylim(0, axes.get_ylim()[1] * 1.45)
    axes.set_xlabel("seconds from the write to the marketplace's acceptance")
    axes.set_ylabel(f"ratings per {width * 1000:.0f} ms")
    axes.set_title(f"Fast path freshness, steady writes: {data['rate']} ratings/s for "
                   f"{data['seconds']} s ({data['backend']}, L = {data['latency_ms']} ms)")
    note = f"targets: p50 ≤ {data['target_p50']} s, p99 ≤ {data['target_p99']} s"
    if missing:
        note += f"; {missing:,} never accepted (not drawn)"
    axes.legend(loc="upper right", title=note, frameon=True, framealpha=0.95, edgecolor="none")
    save(figure, path)


def burst(data, path):
    """The share of the burst accepted within x seconds of its write (a
    CDF), each run a step line, beside a drain at C/L and at 0.9 C/L of
    ratings all written at once."""
    figure, axes = plt.subplots(figsize=(SIZE[0], SIZE[1] + 1.1))
    count = data["ratings"]
    limit = data["limit"]
    end = max((d for run in data["runs"] for d in run["delays"] if d is not None), default=1)
    ideal = count / limit
    axes.plot([0, ideal, max(end, ideal) * 1.05], [0, 1, 1], color=BOUND, linestyle="--",
              linewidth=1, label=f"all written at once, drained at C/L = {limit:,.0f}/s")
    axes.plot([0, ideal / 0.9, max(end, ideal / 0.9) * 1.05], [0, 1, 1], color=BOUND,
              linestyle=":", linewidth=1, label="the same at 0.9 C/L (the target)")
    for number, (run, color) in enumerate(zip(data["runs"], (PUSH, PULL, THIRD)), start=1):
        delays = sorted(d for d in run["delays"] if d is not None)
        shares = [(i + 1) / count for i in range(len(delays))]
        axes.step([0] + delays, [0] + shares, where="post", color=color, linewidth=1.6,
                  label=f"{run['how']} (written: {run['written']})", gid=f"run-{number}")
    axes.set_xlim(0, max(end, ideal / 0.9) * 1.05)
    axes.set_ylim(0, 1.02)
    axes.yaxis.set_major_formatter(PercentFormatter(1.0))
    axes.set_xlabel("seconds from the write to the marketplace's acceptance")
    axes.set_ylabel(f"share of the {count:,} ratings accepted")
    axes.set_title(f"Fast path, a burst of {count:,} ratings written at once "
                   f"(L = {data['latency_ms']} ms)")
    # Below the axes: the lines fill the plot's every corner.
    axes.legend(loc="upper left", bbox_to_anchor=(0, -0.16))
    save(figure, path)


def memory(data, path):
    """Resident memory over the run, from spawn to the answer; the peak
    sample and the kernel's high-water mark marked."""
    figure, axes = plt.subplots(figsize=SIZE)
    seconds = [s[0] for s in data["samples"]]
    megabytes = [s[1] for s in data["samples"]]
    axes.plot(seconds, megabytes, color=PUSH, linewidth=1.4,
              label=f"resident memory (VmRSS), every {data['interval_ms']} ms")
    if megabytes:
        at = max(range(len(megabytes)), key=megabytes.__getitem__)
        axes.plot([seconds[at]], [megabytes[at]], "o", color=PULL,
                  label=f"peak sampled: {megabytes[at]:.1f} MB at {seconds[at]:.1f} s")
    if data.get("hwm_mb") is not None:
        axes.axhline(data["hwm_mb"], color=BOUND, linestyle=":", linewidth=1,
                     label=f"the kernel's peak (VmHWM): {data['hwm_mb']:.1f} MB")
    if data.get("answered_s") is not None:
        axes.axvline(data["answered_s"], color=BOUND, linestyle="--", linewidth=1,
                     label=f"the run answered: {data['answered_s']:.1f} s")
    axes.set_ylim(0, max(megabytes + [data.get("hwm_mb") or 0, 1]) * 1.25)
    axes.set_xlim(0, max(seconds + [data.get("answered_s") or 0, 1]) * 1.02)
    axes.set_xlabel("seconds since the process started")
    axes.set_ylabel("resident memory (MB)")
    axes.set_title(f"Memory of scheduled-rating-sync over a drain of {data['backlog']:,} "
                   f"({data['backend']}, L = {data['latency_ms']} ms)")
    axes.legend(loc="lower right")
    save(figure, path)


PLOTS = {"throughput": throughput, "freshness": freshness, "burst": burst, "memory": memory}


def draw(name, directory):
    """Draws <directory>/<name>.svg from <directory>/<name>.json."""
    directory = Path(directory)
    data = json.loads((directory / f"{name}.json").read_text())
    with plt.rc_context(STYLE):
        PLOTS[name](data, directory / f"{name}.svg")
    return directory / f"{name}.svg"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", default=str(DEFAULT_DIR), help="where the data and pictures are")
    parser.add_argument("names", nargs="*", help="of " + ", ".join(PLOTS) + " (default: all there)")
    args = parser.parse_args()
    names = args.names or [n for n in PLOTS if (Path(args.dir) / f"{n}.json").exists()]
    unknown = sorted(set(names) - set(PLOTS))
    if unknown:
        parser.error(f"unknown picture(s) {', '.join(unknown)}: use {', '.join(PLOTS)}")
    for name in names:
        print(f"bench: drew {draw(name, args.dir)}", file=sys.stderr)


if __name__ == "__main__":
    main()
