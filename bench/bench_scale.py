"""A session of 20,000 (``--big``: 100,000) ``andEvery`` instances drained by 2 forking workers.

Against raw RQ no-op jobs (same options: no result kept) drained by 2 forking ``rq.Worker``
burst workers on the same queue, in the same run. Prints tasks/s and the ratio, Redis bytes per
finished instance (``MEMORY USAGE`` of the session's keys, and the lease keys left; the
``used_memory`` delta is printed too but counts the whole server, other databases included),
one recovery pass over the session while all its instances are queued (nothing to repair), and
the admin session page's time. Use PostgreSQL and Redis through
``DATABASE_URL`` / ``REDIS_URL`` (the embedded defaults work too).

    python bench/bench_scale.py [--instances 20000 | --big] [--workers 2]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")

import django  # noqa: E402

django.setup()

import django_rq  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import override_settings  # noqa: E402
from django.urls import reverse  # noqa: E402

from bench import workers as burst  # noqa: E402
from bench.tasks import lease_redis_bytes, session_redis_bytes, tick_session  # noqa: E402
from triggers.models import TriggerSession  # noqa: E402
from triggers.recovery import recover  # noqa: E402
from triggers.registry import flush_pending_counts  # noqa: E402

QUEUE = "low"


def drain(worker_class: str, workers: int) -> float:
    """Seconds until ``workers`` burst workers drained the queue (``bench.workers``)."""
    return burst.drain(worker_class, django_rq.get_queue(QUEUE), workers)


def used_memory(connection) -> int:
    return int(connection.info("memory")["used_memory"])


def raw_rate(n: int, workers: int) -> float:
    queue = django_rq.get_queue(QUEUE)
    with queue.connection.pipeline() as pipe:
        for _ in range(n):
            queue.enqueue("bench.tasks.noop_job", result_ttl=0, pipeline=pipe)
        pipe.execute()
    return n / drain("rq.Worker", workers)


def admin_page_seconds(uid: str) -> float:
    user, _ = User.objects.get_or_create(
        username="bench-scale-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    session = TriggerSession.objects.get(uid=uid)
    url = reverse("admin:triggers_triggersession_change", args=[session.pk])
    started = time.perf_counter()
    response = client.get(url)
    elapsed = time.perf_counter() - started
    assert response.status_code == 200, response.status_code
    user.delete()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=20_000)
    parser.add_argument("--big", action="store_true", help="100,000 instances")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    n = 100_000 if args.big else args.instances
    call_command("migrate", verbosity=0)
    connection = django_rq.get_connection(QUEUE)
    django_rq.get_queue(QUEUE).empty()
    print(f"database {django.db.connection.vendor}, Redis {connection.connection_pool}")

    raw = raw_rate(n, args.workers)
    print(f"raw RQ: {raw:.0f} jobs/s", flush=True)

    with override_settings(TRIGGERS={"DEFAULT_RUNNER": "rq", "RECOVERY_INTERVAL": 0}):
        before = used_memory(connection)
        manager = tick_session("bench-scale", QUEUE)
        started = time.perf_counter()
        for i in range(n):
            manager.fire("tick", {"i": i})
        fill = time.perf_counter() - started
        print(f"fired {n} times: {n / fill:.0f} fires/s", flush=True)

        started = time.perf_counter()
        report = recover()
        young = time.perf_counter() - started
        started = time.perf_counter()
        report_old = recover(now=datetime.now(UTC) + timedelta(hours=1))
        old = time.perf_counter() - started
        print(
            f"recovery pass, {n} queued: {young * 1000:.0f} ms (all younger than the grace, "
            f"checked {report.checked}); {old * 1000:.0f} ms as if an hour later (checked "
            f"{report_old.checked}, requeued {len(report_old.requeued)})",
            flush=True,
        )

        triggered = n / drain("triggers.worker.Worker", args.workers)
        statuses = {inst.status for inst in manager.storage}
        assert statuses == {"finished"}, statuses
        flush_pending_counts()
        per_instance = (used_memory(connection) - before) / n
        session_bytes, index_bytes = session_redis_bytes(manager.storage)
        leases, lease_bytes = lease_redis_bytes(connection)
        page = admin_page_seconds(manager.session_uid)
        manager.storage.delete()

    print(f"\n{'':<32}{'value':>12}")
    print(f"{'raw RQ jobs/s':<32}{raw:>12.0f}")
    print(f"{'trigger tasks/s':<32}{triggered:>12.0f}")
    print(f"{'overhead (raw / triggers)':<32}{raw / triggered:>11.2f}x")
    print(f"{'Redis B/instance, session keys':<32}{session_bytes / n:>12.0f}")
    print(f"{'  of which the status index':<32}{index_bytes / n:>12.0f}")
    print(f"{'lease keys left (B/instance)':<32}{leases:>6} {lease_bytes / n:>5.0f}")
    print(f"{'used_memory delta / instance':<32}{per_instance:>12.0f}  (whole server)")
    print(f"{'recovery pass (ms)':<32}{young * 1000:>12.0f}")
    print(f"{'admin session page (ms)':<32}{page * 1000:>12.0f}")
    print("\ntargets: overhead <= 1.25x, <= 250 B/instance, recovery < 1 s, admin < 300 ms")


if __name__ == "__main__":
    main()
