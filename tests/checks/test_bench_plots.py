"""The benchmark's pictures (infra/bench/bench_plots.py) and the page that
shows them (docs/BENCHMARKS.md).

* Fed small data of known values, each picture is an SVG document with its
  title, axis labels and a legend entry per series, its series drawn with
  every point, and its numbers (percentiles, the peak) computed from the
  data; the same data draws the same bytes.
* bench.py, after a run, writes the data of its scenarios' pictures and
  draws those, leaving the other pictures as they were.
* Every image the page embeds has alt text, exists in docs/bench/ with the
  data it was drawn from beside it, and is what bench_plots.py draws from
  that data today; every picture in docs/bench/ is embedded.

Needs matplotlib (.venv):

    .venv/bin/python -m unittest tests/checks/test_bench_plots.py
"""

import json
import pathlib
import re
import sys
import tempfile
import unittest
import xml.etree.ElementTree as ElementTree

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "infra" / "bench"))
import bench_plots  # noqa: E402

PAGE = ROOT / "docs" / "BENCHMARKS.md"
PICTURES = ROOT / "docs" / "bench"
SVG = "{http://www.w3.org/2000/svg}"


def throughput_data():
    points = []
    for latency in (200, 50, 10):
        limit = 10_000 / latency
        points.append({"kind": "push", "latency_ms": latency, "limit": limit, "rate": 0.95 * limit})
        points.append({"kind": "pull", "latency_ms": latency, "limit": limit, "rate": 0.9 * limit})
    return {"backend": "dynalite", "concurrency": 10, "push_ratings": 2000, "pull_skills": 300,
            "points": points}


def freshness_data():
    # p50 0.010 s and p99 0.020 s by nearest rank, one never accepted.
    delays = [0.01] * 50 + [0.02] * 49 + [0.5, None]
    return {"backend": "moto", "latency_ms": 50, "rate": 20, "seconds": 60, "target_p50": 1,
            "target_p99": 3, "delays": delays}


def burst_data():
    return {"ratings": 100, "latency_ms": 50, "limit": 200, "runs": [
        {"how": "moto, through the stream poller", "written": "its own write",
         "delays": [i / 100 for i in range(100)]},
        {"how": "dynalite, the bench plays the stream", "written": "the first invocation",
         "delays": [i / 190 for i in range(99)] + [None]}]}


def memory_data():
    samples = [[i * 0.05, 10 + (i % 7) * 0.5] for i in range(60)]
    samples[30] = [1.5, 42.0]
    return {"backend": "dynalite", "backlog": 10000, "latency_ms": 50, "interval_ms": 50,
            "hwm_mb": 43.2, "answered_s": 2.9, "samples": samples}


def draw(name, data, directory):
    (directory / f"{name}.json").write_text(json.dumps(data))
    return bench_plots.draw(name, directory)


def texts(svg):
    """Every piece of text of an SVG document (matplotlib keeps text as
    <text> with svg.fonttype none)."""
    root = ElementTree.parse(svg).getroot()
    return root, ["".join(t.itertext()).strip() for t in root.iter(f"{SVG}text")]


def points(root, gid):
    """How many markers the series drawn with this gid has."""
    group = next((g for g in root.iter(f"{SVG}g") if g.get("id") == gid), None)
    if group is None:
        raise AssertionError(f"no series {gid!r}")
    return len(list(group.iter(f"{SVG}use")))


class Pictures(unittest.TestCase):
    def setUp(self):
        self.directory = pathlib.Path(tempfile.mkdtemp())

    def picture(self, name, data):
        root, found = texts(draw(name, data, self.directory))
        self.assertEqual(root.tag, f"{SVG}svg")
        return root, found

    def assert_has(self, found, *expected):
        for text in expected:
            self.assertTrue(any(text in t for t in found), f"{text!r} not in {found}")

    def test_throughput_has_both_series_every_point_and_the_bounds(self):
        root, found = self.picture("throughput", throughput_data())
        self.assert_has(found, "Throughput against C/L", "C/L, the physical limit",
                        "measured (per second)", "L, the marketplace's latency (ms)",
                        "push: a drain's ratings/s", "pull: skill reads/s", "ideal: C/L",
                        "target: 0.9 C/L")
        for series in ("push", "pull", "push-share", "pull-share"):
            self.assertEqual(points(root, series), 3, series)

    def test_freshness_marks_its_percentiles_and_counts_the_missing(self):
        _, found = self.picture("freshness", freshness_data())
        self.assert_has(found, "steady writes", "seconds from the write to the marketplace",
                        "ratings per 5 ms", "p50: 0.010 s", "p99: 0.020 s", "100 ratings",
                        "1 never accepted")

    def test_burst_has_a_line_per_run_and_the_drain_at_c_over_l(self):
        root, found = self.picture("burst", burst_data())
        self.assert_has(found, "a burst of 100 ratings", "share of the 100 ratings accepted",
                        "moto, through the stream poller (written: its own write)",
                        "dynalite, the bench plays the stream (written: the first invocation)",
                        "drained at C/L = 200/s", "0.9 C/L")
        self.assertEqual(len([g for g in root.iter(f"{SVG}g")
                              if (g.get("id") or "").startswith("run-")]), 2)

    def test_memory_marks_the_peak_sample_and_the_high_water_mark(self):
        _, found = self.picture("memory", memory_data())
        self.assert_has(found, "over a drain of 10,000", "resident memory (MB)",
                        "seconds since the process started", "peak sampled: 42.0 MB at 1.5 s",
                        "(VmHWM): 43.2 MB", "the run answered: 2.9 s")

    def test_the_same_data_draws_the_same_bytes(self):
        first = draw("memory", memory_data(), self.directory).read_bytes()
        again = pathlib.Path(tempfile.mkdtemp())
        self.assertEqual(draw("memory", memory_data(), again).read_bytes(), first)


class Bench(unittest.TestCase):
    def test_a_run_draws_its_own_pictures_and_keeps_the_others(self):
        """bench.py writes the data of the scenarios it ran beside the page
        and draws their pictures (bench_plots.py, .venv's python); the
        others stay as they were."""
        import bench  # noqa: PLC0415  (the bench itself: standard library only)
        page = pathlib.Path(tempfile.mkdtemp()) / "BENCHMARKS.md"
        (page.parent / "bench").mkdir()
        kept = draw("freshness", freshness_data(), page.parent / "bench")
        before = kept.read_bytes()
        self.assertTrue(bench.draw_pictures(page, {"memory": memory_data()}))
        self.assertEqual(kept.read_bytes(), before)
        self.assertEqual(json.loads((kept.parent / "memory.json").read_text()), memory_data())
        self.assertIn("peak sampled: 42.0 MB at 1.5 s", texts(kept.parent / "memory.svg")[1])


def embedded():
    """The images docs/BENCHMARKS.md embeds: [(alt, path relative to it)]."""
    return re.findall(r"!\[([^\]]*)\]\(([^)\s]+)\)", PAGE.read_text(encoding="utf-8"))


class Page(unittest.TestCase):
    def test_every_embedded_picture_is_there_drawn_from_its_data(self):
        images = embedded()
        self.assertTrue(images, "the page embeds no picture")
        redrawn = pathlib.Path(tempfile.mkdtemp())
        for alt, target in images:
            with self.subTest(target):
                self.assertGreater(len(alt.strip()), 20, "no alt text to speak of")
                path = (PAGE.parent / target).resolve()
                self.assertEqual(path.parent, PICTURES, "not in docs/bench/")
                self.assertTrue(path.exists(), "no such file")
                data = path.with_suffix(".json")
                self.assertTrue(data.exists(), "its data is not beside it")
                self.assertIn(path.stem, bench_plots.PLOTS, "no plot of that name")
                (redrawn / data.name).write_bytes(data.read_bytes())
                self.assertEqual(bench_plots.draw(path.stem, redrawn).read_bytes(),
                                 path.read_bytes(),
                                 "not what its data draws today: redraw with "
                                 ".venv/bin/python infra/bench/bench_plots.py")

    def test_every_picture_is_embedded(self):
        shown = {(PAGE.parent / target).resolve() for _, target in embedded()}
        for path in sorted(PICTURES.glob("*")):
            with self.subTest(path.name):
                picture = path.with_suffix(".svg")
                self.assertIn(picture, shown, "not embedded in docs/BENCHMARKS.md")


if __name__ == "__main__":
    unittest.main()
