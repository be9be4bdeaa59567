"""Cost of running a collector pipeline: per run, per extra component, with a 1,000,000-key bundle.

Three measurements, each against a baseline taken in the same run:

* ``overhead``: a pipeline of 3 sources, 1 aggregator and 1 sink with trivial bodies, run 100
  times in this process (five rounds, median); the baseline calls the same component methods
  directly in a loop. The same again with 10 more sources, 10 more aggregators or 10 more
  sinks, to give the cost of one extra component. Targets: under 5 ms per run, well under
  1 ms per extra component (flowbber, a process per component: 25-40 ms and ~4 ms).
* ``big``: one source returning a 1,000,000-key dict, two aggregators and one sink (flowbber:
  ~7 s, mostly copying); the baseline is the same calls without the pipeline. Also times
  the copies and the JSON check the pipeline makes, against ``copy.deepcopy`` and
  ``json.dumps``.
* ``concurrency``: 8 sources with cap 8 against cap 1: sleeping 0.2 s each, pure-Python
  loops (the GIL serialises them), and SHA-256 over a large buffer (hashlib releases the GIL,
  so up to one source per core runs at once).

    python bench/bench_pipeline.py [--runs 100] [--rounds 5] [--keys 1000000] [--only big]
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import os
import pickle
import statistics
import sys
import time
from collections import OrderedDict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")

import django

django.setup()

from collector_app import json_data  # noqa: E402
from collector_app.components import Aggregator, Sink, Source  # noqa: E402
from collector_app.pipeline import Pipeline  # noqa: E402
from collector_app.registry import aggregator, sink, source  # noqa: E402


@source.register("bench.value")
class ValueSource(Source):
    def collect(self):
        return {"value": self.index}


@source.register("bench.big")
class BigSource(Source):
    def declare_config(self, config):
        config.add_option("size", default=1_000_000, optional=True)

    def collect(self):
        return {f"key{i}": i for i in range(self.config.size.value)}


@source.register("bench.sleep")
class SleepSource(Source):
    def declare_config(self, config):
        config.add_option("seconds", default=0.2, optional=True)

    def collect(self):
        time.sleep(self.config.seconds.value)
        return {"slept": self.config.seconds.value}


@source.register("bench.spin")
class SpinSource(Source):
    """Pure Python: holds the GIL."""

    def declare_config(self, config):
        config.add_option("loops", default=1_000_000, optional=True)

    def collect(self):
        total = 0
        for i in range(self.config.loops.value):
            total += i
        return {"total": total}


@source.register("bench.hash")
class HashSource(Source):
    """SHA-256 of a large buffer: C code that releases the GIL."""

    BUFFER = b"x" * (16 * 1024 * 1024)

    def declare_config(self, config):
        config.add_option("rounds", default=4, optional=True)

    def collect(self):
        digest = hashlib.sha256()
        for _ in range(self.config.rounds.value):
            digest.update(self.BUFFER)
        return {"digest": digest.hexdigest()}


@aggregator.register("bench.count")
class CountAggregator(Aggregator):
    def accumulate(self, data):
        data[self.id] = {"sources": len(data)}


@aggregator.register("bench.mark")
class MarkAggregator(Aggregator):
    """Changes one value deep inside the big source's data."""

    def accumulate(self, data):
        data["big"]["key0"] = -1


@sink.register("bench.null")
class NullSink(Sink):
    def distribute(self, data):
        self.received = len(data)


def definition(sources=3, aggregators=1, sinks=1, source_type="bench.value", config=None):
    return {
        "sources": [
            {"type": source_type, "id": f"s{i}", "config": dict(config or {})}
            for i in range(sources)
        ],
        "aggregators": [{"type": "bench.count", "id": f"a{i}"} for i in range(aggregators)],
        "sinks": [{"type": "bench.null", "id": f"k{i}"} for i in range(sinks)],
    }


def direct_ms(pipeline: Pipeline, runs: int) -> float:
    """The same component calls, in this thread, without the pipeline around them."""
    components = pipeline.components
    started = time.perf_counter()
    for _ in range(runs):
        bundle = OrderedDict((s.id, s.collect()) for s in components["sources"])
        for a in components["aggregators"]:
            a.accumulate(bundle)
        for s in components["sinks"]:
            s.distribute(bundle)
    return (time.perf_counter() - started) * 1000 / runs


def pipeline_ms(pipeline: Pipeline, runs: int) -> float:
    started = time.perf_counter()
    for _ in range(runs):
        journal = pipeline.run()
        assert journal.passed, journal.error
    return (time.perf_counter() - started) * 1000 / runs


def overhead(args) -> None:
    shapes = {
        "3 sources, 1 aggregator, 1 sink": (3, 1, 1),
        "13 sources, 1 aggregator, 1 sink": (13, 1, 1),
        "3 sources, 11 aggregators, 1 sink": (3, 11, 1),
        "3 sources, 1 aggregator, 11 sinks": (3, 1, 11),
    }
    pipelines = {label: Pipeline(definition(*shape), "bench") for label, shape in shapes.items()}
    for pipeline in pipelines.values():  # warm up: imports, first thread start-ups
        pipeline_ms(pipeline, 5)
    samples = {label: ([], []) for label in shapes}
    for _ in range(args.rounds):  # alternate, so drift on the machine hits every shape alike
        for label, pipeline in pipelines.items():
            samples[label][0].append(pipeline_ms(pipeline, args.runs))
            samples[label][1].append(direct_ms(pipeline, args.runs))
    print(f"\n== overhead: {args.runs} runs x {args.rounds} rounds, median per run")
    print(f"{'pipeline':<36}{'runs/s':>9}{'ms/run':>9}{'direct ms':>11}{'overhead ms':>13}")
    overheads = {}
    for label, (runs, directs) in samples.items():
        ms, direct = statistics.median(runs), statistics.median(directs)
        overheads[label] = ms - direct
        print(f"{label:<36}{1000 / ms:>9.0f}{ms:>9.3f}{direct:>11.4f}{ms - direct:>13.3f}")
    base = overheads["3 sources, 1 aggregator, 1 sink"]
    print(f"\nper-run overhead (3+1+1): {base:.3f} ms (target < 5 ms): " + verdict(base < 5))
    for label, kind in (
        ("13 sources, 1 aggregator, 1 sink", "source"),
        ("3 sources, 11 aggregators, 1 sink", "aggregator"),
        ("3 sources, 1 aggregator, 11 sinks", "sink"),
    ):
        extra = (overheads[label] - base) / 10
        print(
            f"per extra {kind:<10}: {extra:.3f} ms (target well under 1 ms): " + verdict(extra < 1)
        )


def big(args) -> None:
    pipeline = Pipeline(
        {
            "sources": [{"type": "bench.big", "id": "big", "config": {"size": args.keys}}],
            "aggregators": [
                {"type": "bench.count", "id": "count"},
                {"type": "bench.mark", "id": "mark"},
            ],
            "sinks": [{"type": "bench.null", "id": "out"}],
        },
        "bench-big",
    )
    totals, directs, entries = [], [], []
    for _ in range(args.big_rounds):
        directs.append(direct_ms(pipeline, 1))
        started = time.perf_counter()
        journal = pipeline.run()
        totals.append((time.perf_counter() - started) * 1000)
        assert journal.passed, journal.error
        assert journal.data["big"]["key0"] == -1 and journal.data["count"] == {"sources": 1}
        entries.append({e.id: e.duration * 1000 for e in journal.entries})
    total, direct = statistics.median(totals), statistics.median(directs)
    print(
        f"\n== {args.keys:,}-key bundle, 1 source, 2 aggregators, 1 sink ({args.big_rounds} runs)"
    )
    print(f"whole run        {total:9.1f} ms   (median)")
    print(f"direct calls     {direct:9.1f} ms   (building the dict, the aggregators, the sink)")
    print(f"pipeline's share {total - direct:9.1f} ms")
    for component in ("big", "count", "mark", "out"):
        median = statistics.median(e[component] for e in entries)
        print(f"  entry {component:<6} {median:9.1f} ms")
    data = pipeline.components["sources"][0].collect()
    bundle = OrderedDict(big=data)
    costs = {}
    for label, function in (
        ("copy.deepcopy(bundle)", copy.deepcopy),
        ("json_data.json_copy(bundle)", json_data.json_copy),
        ("json.dumps(data)", json.dumps),
        ("json_data.check_json(data)", json_data.check_json),
        ("pickle.dumps(data)", pickle.dumps),
    ):
        value = bundle if "bundle" in label else data
        samples = []
        for _ in range(3):
            started = time.perf_counter()
            function(value)
            samples.append((time.perf_counter() - started) * 1000)
        costs[label] = statistics.median(samples)
        print(f"  one {label:<28}{costs[label]:9.1f} ms")
    pickled = pickle.dumps(data)
    started = time.perf_counter()
    pickle.loads(pickled)
    unpickle = (time.perf_counter() - started) * 1000
    print(f"  one {'pickle.loads(bytes)':<28}{unpickle:9.1f} ms   ({len(pickled) / 1e6:.1f} MB)")
    copies = 3  # one per aggregator, one per sink
    before = costs["json.dumps(data)"] + copies * costs["copy.deepcopy(bundle)"]
    after = costs["json_data.check_json(data)"] + copies * costs["json_data.json_copy(bundle)"]
    print(
        f"check + {copies} copies: {after:.0f} ms with json_data.*, {before:.0f} ms with "
        f"json.dumps and copy.deepcopy ({before / after:.1f}x)"
    )
    print(
        f"an RQ job per source would add at least a pickle round trip through Redis: "
        f"{costs['pickle.dumps(data)'] + unpickle:.0f} ms"
    )


def concurrency(args) -> None:
    spin = Pipeline(definition(1, 0, 0, "bench.spin"), "calibrate").components["sources"][0]
    started = time.perf_counter()
    spin.collect()
    loops = int(1_000_000 * 0.1 / (time.perf_counter() - started))  # ~0.1 s of Python each
    hasher = Pipeline(definition(1, 0, 0, "bench.hash"), "calibrate").components["sources"][0]
    started = time.perf_counter()
    hasher.collect()
    rounds = max(1, round(4 * 0.1 / (time.perf_counter() - started)))  # ~0.1 s of hashing
    cases = {
        "sleep 0.2 s": ("bench.sleep", {"seconds": 0.2}),
        "pure Python ~0.1 s": ("bench.spin", {"loops": loops}),
        "sha256 ~0.1 s (no GIL)": ("bench.hash", {"rounds": rounds}),
    }
    print("\n== concurrency: 8 sources, no aggregator or sink, cap 1 / 2 / 8 (best of 3)")
    print(f"{'sources':<26}{'cap 1 s':>9}{'cap 2 s':>9}{'cap 8 s':>9}{'speed-up 8 vs 1':>17}")
    for label, (type_, config) in cases.items():
        walls = {}
        for cap in (1, 2, 8):
            pipeline = Pipeline(definition(8, 0, 0, type_, config), "bench", max_concurrency=cap)
            samples = []
            for _ in range(3):
                started = time.perf_counter()
                assert pipeline.run().passed
                samples.append(time.perf_counter() - started)
            walls[cap] = min(samples)
        print(
            f"{label:<26}{walls[1]:>9.3f}{walls[2]:>9.3f}{walls[8]:>9.3f}"
            f"{walls[1] / walls[8]:>16.2f}x"
        )


def verdict(ok: bool) -> str:
    return "OK" if ok else "ABOVE TARGET"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100, help="runs per overhead measurement")
    parser.add_argument("--rounds", type=int, default=5, help="overhead measurements per shape")
    parser.add_argument("--keys", type=int, default=1_000_000, help="keys of the big bundle")
    parser.add_argument("--big-rounds", type=int, default=3, help="runs of the big pipeline")
    parser.add_argument(
        "--only", choices=("overhead", "big", "concurrency"), action="append", default=None
    )
    args = parser.parse_args()
    print(f"Python {sys.version.split()[0]}, {os.cpu_count()} CPUs")
    for part in args.only or ("overhead", "big", "concurrency"):
        {"overhead": overhead, "big": big, "concurrency": concurrency}[part](args)


if __name__ == "__main__":
    main()
