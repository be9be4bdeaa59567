"""Throughput and memory of ``update_push_items`` on the ``local`` recorder.

100,000 fully populated push items (every schema field, both checksums), passed as a
generator, recorded by ``Collector.get("local")`` into a fresh run folder; against a baseline
in the same run that validates each item with a jsonschema validator compiled once and writes
``json.dumps(item, sort_keys=True)`` lines to a file. Median of ``--rounds`` rounds each; both
consume the same generator, so the cost of making the items is in both.

For context it also times pushcollector's own way (``jsonschema.validate(item, schema)``
per item, which checks the schema again every time) on ``--sample`` items, and reports peak
Python memory (tracemalloc) for the full count and for three times as many items: bounded
memory means the two are about the same. Target: at least 50,000 items/s.

    python bench/bench_pushitems.py [--items 100000] [--rounds 3] [--sample 1000]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from django.conf import settings

ROOT = Path(tempfile.mkdtemp(prefix="bench-pushitems-"))
settings.configure(COLLECTORS={"ARTIFACTS_ROOT": ROOT})

import jsonschema  # noqa: E402

from collector_app.pushcollector import SCHEMA, Collector  # noqa: E402

MD5 = "bb1b0d528129f47798006e73307ba7a7"
SHA256 = "4fd23ae44f3366f12f769f82398e96dce72adab8e45dea4d721ddf43fdce31e2"


def items(count: int) -> Iterator[dict]:
    states = ("PUSHED", "EXISTS", "SKIPPED", "PENDING")
    for n in range(count):
        yield {
            "filename": f"pkg-{n}-1.0-1.el9.x86_64.rpm",
            "state": states[n % 4],
            "src": f"/mnt/koji/packages/pkg-{n}/1.0/1.el9/x86_64/pkg-{n}-1.0-1.el9.x86_64.rpm",
            "dest": "rhel-9-for-x86_64-baseos-rpms",
            "origin": "RHBA-2026:12345",
            "build": f"pkg-{n}-1.0-1.el9",
            "signing_key": "FD431D51",
            "checksums": {"md5": MD5, "sha256": SHA256},
        }


def ours(count: int) -> float:
    with Collector.new_run() as run:
        collector = Collector.get("local")
        started = time.perf_counter()
        collector.update_push_items(items(count)).result()
        elapsed = time.perf_counter() - started
    log = ROOT / run.id / "pushitems.jsonl"
    with open(log, "rb") as handle:
        lines = sum(1 for _ in handle)
    assert lines == count, f"{lines} lines in {log}, expected {count}"
    log.unlink()
    return elapsed


def baseline(count: int) -> float:
    validator = jsonschema.Draft202012Validator(SCHEMA)  # compiled once
    path = ROOT / "baseline.jsonl"
    started = time.perf_counter()
    with open(path, "a", encoding="utf-8") as handle:
        for item in items(count):
            validator.validate(item)
            handle.write(json.dumps(item, sort_keys=True) + "\n")
    elapsed = time.perf_counter() - started
    path.unlink()
    return elapsed


def pushcollector_way(count: int) -> float:
    started = time.perf_counter()
    for item in items(count):
        jsonschema.validate(item, schema=SCHEMA)
        json.dumps(item, sort_keys=True)
    return time.perf_counter() - started


def peak_memory(count: int) -> int:
    tracemalloc.start()
    try:
        with Collector.new_run():
            Collector.get("local").update_push_items(items(count)).result()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sample", type=int, default=1000)
    args = parser.parse_args()
    count = args.items

    print(f"{count:,} fully populated items per round, {args.rounds} rounds, median; {ROOT}")
    mine, base = [], []
    for _ in range(args.rounds):  # alternate, so drifts in machine speed hit both alike
        mine.append(ours(count))
        base.append(baseline(count))
    mine_rate = count / statistics.median(mine)
    base_rate = count / statistics.median(base)
    print(f"local recorder (fast path, spooled, one locked append): {mine_rate:>10,.0f} items/s")
    print(f"baseline (compiled jsonschema + json.dumps + write):   {base_rate:>10,.0f} items/s")
    print(f"ratio local / baseline: {mine_rate / base_rate:.1f}x   target: >= 50,000 items/s")
    slow = args.sample
    print(
        f"pushcollector's way (jsonschema.validate per item, {slow:,} items): "
        f"{slow / pushcollector_way(slow):,.0f} items/s"
    )
    full, triple = peak_memory(count), peak_memory(3 * count)
    print(
        f"peak traced memory: {full / 2**20:.1f} MiB for {count:,} items, "
        f"{triple / 2**20:.1f} MiB for {3 * count:,} (bounded: the batch spools to disk)"
    )
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"max RSS of this process: {rss:.0f} MiB")
    for leftover in ROOT.iterdir():
        if leftover.is_dir() and not leftover.is_symlink():
            for file in leftover.iterdir():
                file.unlink()
            leftover.rmdir()
        else:
            leftover.unlink()
    os.rmdir(ROOT)


if __name__ == "__main__":
    main()
