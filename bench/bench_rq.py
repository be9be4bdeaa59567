"""Throughput of trigger tasks on real RQ workers, against raw RQ jobs on the same workers.

1,000 no-op trigger tasks (one ``andEvery`` task fired 1,000 times, every instance an RQ job
that claims, runs, finishes and cascades through the session) against 1,000 raw RQ no-op
jobs, each drained by one burst worker; once with the forking worker and once with
``SimpleWorker``. Worker start-up (an empty burst run, measured here too) is subtracted, so the
figures are jobs per second of draining, timed until the queue is drained (``bench.workers``).

    python bench/bench_rq.py [--jobs 1000] [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")

import django  # noqa: E402

django.setup()

import django_rq  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from bench import workers  # noqa: E402
from bench.tasks import tick_session  # noqa: E402

QUEUE = "low"  # kept apart from the demo's default queue
KINDS = {
    "forking": ("rq.Worker", "triggers.worker.Worker"),
    "simple": ("rq.SimpleWorker", "triggers.worker.SimpleWorker"),
}


def drain(worker_class: str) -> float:
    return workers.drain(worker_class, django_rq.get_queue(QUEUE))


def raw_run(jobs: int, worker_class: str, startup: float) -> float:
    queue = django_rq.get_queue(QUEUE)
    for _ in range(jobs):
        queue.enqueue("bench.tasks.noop_job", result_ttl=0)
    return jobs / max(1e-9, drain(worker_class) - startup)


def trigger_run(jobs: int, worker_class: str, startup: float) -> float:
    manager = tick_session("bench-rq", QUEUE)
    for i in range(jobs):
        manager.fire("tick", {"i": i})
    rate = jobs / max(1e-9, drain(worker_class) - startup)
    statuses = {inst.status for inst in manager.storage}
    assert statuses == {"finished"}, statuses
    return rate


def round_trips_per_job(jobs: int = 20) -> tuple[float, float, float]:
    """Redis round trips per job, in this process on ``SimpleWorker``: raw RQ (no result kept,
    as trigger jobs), trigger tasks, and SQL statements per trigger task."""
    from rq import SimpleWorker

    from triggers.diagnostics import count_costs
    from triggers.worker import SimpleWorker as TriggerSimpleWorker

    queue = django_rq.get_queue(QUEUE)
    manager = tick_session("bench-rq", QUEUE)
    results = []
    for worker_class in (SimpleWorker, TriggerSimpleWorker):
        queue.empty()
        for i in range(jobs):
            if worker_class is SimpleWorker:
                queue.enqueue("bench.tasks.noop_job", result_ttl=0)
            else:
                manager.fire("tick", {"i": i})
        with count_costs() as loaded:
            worker_class([queue], connection=queue.connection).work(burst=True)
        with count_costs() as idle:  # the worker's own start and stop, with nothing to do
            worker_class([queue], connection=queue.connection).work(burst=True)
        results.append(((loaded.redis - idle.redis) / jobs, (loaded.sql - idle.sql) / jobs))
    return results[0][0], results[1][0], results[1][1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    django_rq.get_queue(QUEUE).empty()
    results = {}
    with override_settings(TRIGGERS={"DEFAULT_RUNNER": "rq"}):
        for kind, (raw_class, trigger_class) in KINDS.items():
            startup = workers.startup(trigger_class, django_rq.get_queue(QUEUE))
            raw, triggered = [], []
            for _ in range(args.repeat):
                raw.append(raw_run(args.jobs, raw_class, startup))  # no result kept, as ours
                triggered.append(trigger_run(args.jobs, trigger_class, startup))
            results[kind] = (startup, statistics.median(raw), statistics.median(triggered))
            print(f"{kind}: start-up {startup:.2f}s, raw {raw}, triggers {triggered}", flush=True)
    print(f"\n{'worker':<9}{'raw RQ jobs/s':>15}{'trigger tasks/s':>17}{'overhead':>10}")
    for kind, (_, raw, triggered) in results.items():
        print(f"{kind:<9}{raw:>15.0f}{triggered:>17.0f}{raw / triggered:>9.2f}x")
    with override_settings(TRIGGERS={"DEFAULT_RUNNER": "rq", "RECOVERY_INTERVAL": 0}):
        raw_trips, trigger_trips, sql = round_trips_per_job()
    print(
        f"\nRedis round trips per job (SimpleWorker): raw RQ {raw_trips:.1f}, trigger task "
        f"{trigger_trips:.1f} (+{trigger_trips - raw_trips:.1f}); SQL statements per task {sql:.1f}"
    )
    print("\ntargets: trigger overhead at most 1.25x raw RQ, at most 6 extra round trips per job")


if __name__ == "__main__":
    main()
