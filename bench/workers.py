"""Burst RQ workers for the benchmarks, timed until their queue is drained.

A burst worker's exit is not timed: RQ's pubsub teardown sometimes waits out its 60 s poll
(``PubSubWorkerThread.stop`` joins a thread waiting for a subscription that will not come),
which made single runs 10x slower at random, on either side of a comparison.
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def start(worker_class: str, queue: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "rqworker", "--burst", "--worker-class", worker_class, queue],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def drained(queue) -> bool:
    """Nothing queued, dequeued or running on ``queue``."""
    connection = queue.connection
    return (
        queue.count == 0
        and connection.llen(queue.intermediate_queue_key) == 0
        and queue.started_job_registry.count == 0
    )


def drain(worker_class: str, queue, workers: int = 1) -> float:
    """Seconds from starting ``workers`` burst workers until ``queue`` is drained."""
    started = time.perf_counter()
    procs = [start(worker_class, queue.name) for _ in range(workers)]
    while not drained(queue) and any(proc.poll() is None for proc in procs):
        time.sleep(0.01)
    elapsed = time.perf_counter() - started
    for proc in procs:
        proc.wait()
    return elapsed


def startup(worker_class: str, queue) -> float:
    """A burst worker's start and stop on an empty queue: the fastest of three exits."""
    times = []
    for _ in range(3):
        started = time.perf_counter()
        start(worker_class, queue.name).wait()
        times.append(time.perf_counter() - started)
    return min(times)
