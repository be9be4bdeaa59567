"""Real worker processes and clean queues for the RQ tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import django_rq

from tests.support.helpers import subprocess_env
from triggers.runners.rq_runner import RQRunner
from triggers.watch import RECOVERY_LOCK_KEY, WATCH_KEY

ROOT = Path(__file__).resolve().parents[2]  # the project: tests/support/ is two levels down


def start_worker(env: dict | None = None, **options) -> subprocess.Popen:
    # Output goes to a file, not a pipe: an orphaned work horse must not keep a test waiting.
    log = tempfile.TemporaryFile(mode="w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.support.worker_process", json.dumps(options)],
        cwd=ROOT,
        env={**subprocess_env(), **(env or {})},
        stdout=log,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,  # its own process group, so a test can SIGKILL it whole
    )
    process.log = log  # type: ignore[attr-defined]
    return process


def finish(process: subprocess.Popen, timeout: float = 120) -> str:
    process.wait(timeout=timeout)
    process.log.seek(0)  # type: ignore[attr-defined]
    return process.log.read()  # type: ignore[attr-defined]


def run_burst_workers(count: int = 1, timeout: float = 120, **options) -> list[str]:
    processes = [start_worker(burst=True, **options) for _ in range(count)]
    return [finish(process, timeout) for process in processes]


def wait_for(predicate: Callable[[], bool], timeout: float = 30, message: str = "") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {message or predicate}")


def reset_queues() -> None:
    """Empty queues, no watch entries and no RQ scheduler locks left by earlier tests.

    A worker killed by an earlier test leaves its scheduler's lock on the queue until the lock
    expires; a new worker's scheduler would not move scheduled jobs until then.
    """
    from rq.scheduler import RQScheduler

    for name in ("default", "low"):
        queue = django_rq.get_queue(name)
        queue.empty()
        registry = queue.scheduled_job_registry
        for job_id in registry.get_job_ids():
            registry.remove(job_id)
    connection = django_rq.get_connection("default")
    locks = [RQScheduler.get_locking_key(name) for name in ("default", "low")]
    connection.delete(WATCH_KEY, RECOVERY_LOCK_KEY, *locks)
    forget_dead_workers(connection)


def forget_dead_workers(connection) -> None:
    """Drop the registrations of this machine's workers whose process is gone.

    RQ keeps a killed worker in its registry until the worker's key expires (minutes), so a
    later test would count it as a live worker.
    """
    import socket

    from rq import Worker

    for worker in Worker.all(connection=connection):
        if worker.hostname != socket.gethostname() or not worker.pid:
            continue
        try:
            os.kill(worker.pid, 0)
        except ProcessLookupError:
            worker.register_death()
        except PermissionError:
            pass


class CrashAfterCommitRunner(RQRunner):
    """Dies (like a killed process) right after the session was saved, before enqueueing."""

    def schedule(self, manager, items):
        if os.environ.get("TRIGGERS_TEST_CRASH_AFTER_COMMIT"):
            os._exit(1)
        super().schedule(manager, items)
