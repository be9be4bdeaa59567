"""Gather and package 200 MB of generated CSV rows with a 50 MB tarball limit.

One collection with one CSV function streaming ``--mb`` MB of ~100-byte rows through
``CsvPartWriter`` (the parts stay under the limit minus the common files), gathered as a dry
run into a temporary ``dest`` (packing, not shipping, is what is measured; nothing leaves the
machine). Reports MB/s of CSV data, the number of tarballs, and peak memory: the process's peak
RSS growth (``ru_maxrss``) during the gather and Python's own peak allocations (tracemalloc, in
a second, smaller run because tracing slows everything down).

Baseline, measured in the same run: the same rows written by ``csv.writer`` to one file, then
that file streamed into one tar.gz at the same compression level: the least any packer must do.

    python bench/bench_gather.py [--mb 200] [--limit-mb 50]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import os
import resource
import shutil
import sys
import tarfile
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")

import django

django.setup()

from collector_app.gathering import CsvPartWriter, Gatherer, gather, register  # noqa: E402

MB = 1024 * 1024
ROW_BYTES = 100
HEADER = ["id", "created", "host", "payload"]
SETTINGS = {"rows": 0}
PAYLOADS = [f"{(i * 2654435761) % 2**64:016x}" * 4 for i in range(997)]  # 64 chars, varied


def rows(count: int):
    """``count`` rows of exactly ``ROW_BYTES`` bytes as CSV (with \\r\\n), generated lazily."""
    for i in range(count):
        # 10 + 1 + 19 + 1 + 2 + 1 + 64 + 2 = 100 bytes
        yield (
            f"{i:010d}",
            f"2026-11-{1 + i % 28:02d}T{i % 24:02d}:{i % 60:02d}:{(i // 60) % 60:02d}",
            f"h{i % 10}",
            PAYLOADS[i % 997],
        )


@register("config", "1.0", config=True)
def config(**kwargs):
    return {"bench": "gather", "rows": SETTINGS["rows"]}


@register("events", "1.0", format="csv")
def events(staging_dir, max_data_size, **kwargs):
    with CsvPartWriter(staging_dir, "events", max_data_size, HEADER) as out:
        out.writerows(rows(SETTINGS["rows"]))
    return out.paths


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def baseline(count: int, folder: Path, level: int) -> float:
    start = time.perf_counter()
    data = folder / "events.csv"
    with open(data, "w", newline="") as out:
        csv.writer(out).writerows(rows(count))
    with (
        open(folder / "baseline.tar.gz", "wb") as raw,
        gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=level) as zipped,
        tarfile.open(fileobj=zipped, mode="w") as tar,
    ):
        tar.add(data, arcname="events.csv")
    return time.perf_counter() - start


def run_gather(count: int, limit: int, dest: Path):
    SETTINGS["rows"] = count
    gatherer = Gatherer("bench", module=sys.modules[__name__], max_data_size=limit)
    start = time.perf_counter()
    result = gather(gatherer, dry_run=True, dest=dest)
    elapsed = time.perf_counter() - start
    if not result.ok:
        raise SystemExit(f"gather failed: {result.errors}")
    return result, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mb", type=float, default=200, help="MB of CSV rows to gather")
    parser.add_argument("--limit-mb", type=float, default=50, help="tarball limit in MB")
    args = parser.parse_args()
    count = int(args.mb * MB / ROW_BYTES)
    limit = int(args.limit_mb * MB)
    data_mb = count * ROW_BYTES / MB
    work = Path(tempfile.mkdtemp(prefix="bench-gather-"))
    try:
        base = baseline(count, work, Gatherer.compress_level)
        for name in ("events.csv", "baseline.tar.gz"):
            (work / name).unlink()

        rss_before = peak_rss_mb()
        result, elapsed = run_gather(count, limit, work / "dest")
        rss_growth = peak_rss_mb() - rss_before
        sizes = [t.size for t in result.tarballs]
        assert all(size <= limit for size in sizes), "a tarball is over the limit"
        shutil.rmtree(work / "dest")

        small = count // 10  # tracemalloc slows Python down: a tenth of the rows
        tracemalloc.start()
        run_gather(small, limit // 10, work / "traced")
        traced_peak = tracemalloc.get_traced_memory()[1] / MB
        tracemalloc.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"data: {data_mb:.0f} MB of CSV rows ({count:,} rows), tarball limit {args.limit_mb:g} MB"
    )
    print(
        f"baseline (csv.writer to one file + one tar.gz): {base:.2f}s = {data_mb / base:.1f} MB/s"
    )
    print(
        f"gather (dry run into dest): {elapsed:.2f}s = {data_mb / elapsed:.1f} MB/s, "
        f"ratio {elapsed / base:.2f}x the baseline"
    )
    print(f"tarballs: {len(sizes)} (uncompressed MB: {', '.join(f'{s / MB:.1f}' for s in sizes)})")
    print(f"peak RSS growth during the gather: {rss_growth:.1f} MB (data: {data_mb:.0f} MB)")
    print(
        f"peak Python allocations (tracemalloc, {small * ROW_BYTES / MB:.0f} MB run): "
        f"{traced_peak:.2f} MB"
    )


if __name__ == "__main__":
    main()
