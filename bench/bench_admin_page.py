"""The admin session page, its live endpoint and ``triggers_status`` at 100,000 instances.

A session of ``--instances`` instances (10% failed, 1% running, 1% scheduled, the rest finished,
two tasks) is written straight through the storage, 1,000 instances a unit of work (so the
status index is kept by the same writes as in production), on the ``cache`` and ``db``
storages. Then, median of ``--rounds``: the session page, its live JSON endpoint (Django test
client, a superuser) and ``triggers_status``; and, as the baseline, what the page read before
the status index: every instance, sorted failed first (``admin_views.read_session``). Also the
Redis bytes per instance of the cache session and of its index. Use ``DATABASE_URL`` /
``REDIS_URL`` for PostgreSQL and Redis (the embedded defaults work too).

    python bench/bench_admin_page.py [--instances 100000] [--rounds 5] [--storage cache db]
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")

import django  # noqa: E402

django.setup()

from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402

from bench.tasks import session_redis_bytes  # noqa: E402
from triggers import TriggerManager, admin_views  # noqa: E402
from triggers.models import TriggerSession  # noqa: E402
from triggers.types import now  # noqa: E402

CONFIG = {
    "each": {"after": ["tick"], "andEvery": "tick", "run": "bench.tasks.noop_task"},
    "other": {"after": ["tick"], "andEvery": "tick", "run": "bench.tasks.noop_task"},
}
BATCH = 1000


def status_of(i: int) -> str:
    if i % 10 == 0:
        return "failed"
    if i % 100 == 1:
        return "running"
    if i % 100 == 2:
        return "scheduled"
    return "finished"


def fill(storage_name: str, n: int) -> TriggerManager:
    manager = TriggerManager.for_session(f"bench-page-{uuid.uuid4().hex[:8]}", storage_name)
    manager.update_configuration(CONFIG)
    storage = manager.storage
    for start in range(0, n, BATCH):
        with storage.transaction() as state:
            for i in range(start, min(n, start + BATCH)):
                status = status_of(i)
                metadata: dict = {"timestamps": {status: now()}, "duration": 0.001}
                if status == "failed":
                    metadata.update(exc_type="ValueError", exc_message=f"bad input {i}")
                state.new_instance("each" if i % 2 else "other", {"i": i}, metadata, status=status)
    return manager


def median_ms(call: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        call()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--storage", nargs="+", default=["cache", "db"])
    parser.add_argument("--no-baseline", action="store_true", help="skip the full-read baseline")
    args = parser.parse_args()
    n = args.instances
    call_command("migrate", verbosity=0)
    print(f"database {django.db.connection.vendor}, {n} instances, median of {args.rounds}")
    user, _ = User.objects.get_or_create(
        username="bench-page-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    client = Client(HTTP_HOST="localhost")
    client.force_login(user)
    results = []
    try:
        for storage_name in args.storage:
            started = time.perf_counter()
            manager = fill(storage_name, n)
            print(f"{storage_name}: filled in {time.perf_counter() - started:.1f} s", flush=True)
            session = TriggerSession.objects.get(uid=manager.session_uid)
            page = reverse("admin:triggers_triggersession_change", args=[session.pk])
            live = reverse("admin:triggers_triggersession_live", args=[session.pk])

            def get(url: str, **query: str) -> None:
                response = client.get(url, query)
                assert response.status_code == 200, response.status_code

            row = {
                "storage": storage_name,
                "page": median_ms(lambda: get(page), args.rounds),  # noqa: B023
                "page 500": median_ms(lambda: get(page, page="500"), args.rounds),  # noqa: B023
                "task page": median_ms(lambda: get(page, task="each"), args.rounds),  # noqa: B023
                "live": median_ms(lambda: get(live), args.rounds),  # noqa: B023
                "status": median_ms(
                    lambda: call_command(
                        "triggers_status",
                        manager.session_uid,  # noqa: B023
                        stdout=io.StringIO(),
                    ),
                    args.rounds,
                ),
            }
            if not args.no_baseline:
                row["full read"] = median_ms(
                    lambda: admin_views.read_session(session),  # noqa: B023
                    max(1, args.rounds // 2),
                )
            if storage_name == "cache" and hasattr(manager.storage.kv, "client"):
                total, index_total = session_redis_bytes(manager.storage)
                row["B/inst"], row["index B/inst"] = total / n, index_total / n
            results.append(row)
            print(row, flush=True)
            manager.storage.delete()
            TriggerSession.objects.filter(uid=manager.session_uid).delete()
    finally:
        user.delete()
    print()
    for row in results:
        print(
            " | ".join(
                f"{key}: {value:.1f}" if isinstance(value, float) else f"{value}"
                for key, value in row.items()
            )
        )
    print("\ntarget: page, live and triggers_status under 300 ms at 100,000 instances")


if __name__ == "__main__":
    main()
