"""Per-fire cost on a session holding 100 instances vs one holding 10,000.

Cache storage on Redis (the embedded server, or REDIS_URL), sync runner, a no-op ``andEvery``
task, so every measured fire creates, schedules, runs and finishes one instance (three units of
work). Both sessions are filled by real fires first. The small session is the baseline; the
ratio large / small is the figure that matters (target: at most 1.5).

For contrast, ``--whole-session`` also measures a backend that keeps the session as one JSON
document (the seed framework's approach, through the base class's minimum contract).

    python bench/bench_fire.py [--fires 300] [--rounds 5] [--whole-session]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.core.cache import cache  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from triggers import TriggerManager, register_task  # noqa: E402
from triggers.storages.base import BaseTriggerStorage  # noqa: E402
from triggers.storages.cache import CacheStorageBackend  # noqa: E402
from triggers.storages.db import DatabaseStorageBackend  # noqa: E402

CONFIG = {"every": {"after": ["tick"], "andEvery": "tick", "run": "bench.noop"}}


@register_task("bench.noop")
def noop(context):
    return None


class WholeSessionCacheStorage(BaseTriggerStorage):
    """One JSON document per session in the Django cache: the seed framework's layout."""

    name = "whole-session-cache"

    def _load_from_backend(self):
        raw = cache.get(f"bench-whole:{self.uid}")
        return self._deserialize(json.loads(raw) if raw else None)

    def _save(self) -> None:
        cache.set(f"bench-whole:{self.uid}", json.dumps(self._serialize()), timeout=None)


def filled_session(storage: BaseTriggerStorage, size: int, by_firing: bool) -> TriggerManager:
    manager = TriggerManager(storage)
    manager.update_configuration(CONFIG)
    if by_firing:
        for i in range(size):
            manager.fire("tick", {"i": i})
    else:  # same records, written at once (firing 10,000 times here would take minutes)
        with storage.transaction() as state:
            for i in range(size):
                instance = state.new_instance("every", {"tick": {"i": i}})
                instance.status = "finished"
                state.save_instance(instance)
    assert len(storage) == size, (len(storage), size)
    return manager


def per_fire_ms(manager: TriggerManager, fires: int) -> float:
    started = time.perf_counter()
    for i in range(fires):
        manager.fire("tick", {"i": i})
    return (time.perf_counter() - started) * 1000 / fires


def measure(label: str, make_storage, sizes, fires: int, rounds: int, by_firing: bool) -> dict:
    managers = {}
    for size in sizes:
        started = time.perf_counter()
        managers[size] = filled_session(make_storage(), size, by_firing)
        print(f"  {label}: filled {size:>6} instances in {time.perf_counter() - started:.1f}s")
    samples: dict[int, list[float]] = {size: [] for size in sizes}
    for _ in range(rounds):  # alternate, so drift on the machine hits both alike
        for size in sizes:
            samples[size].append(per_fire_ms(managers[size], fires))
    return {size: statistics.median(values) for size, values in samples.items()}


def costs_per_fire() -> dict[str, tuple[int, int]]:
    """(Redis round trips, SQL statements) of one fire: cache + sync (create, schedule, run,
    finish), db + sync (the same three units of work), and cache + rq (create, schedule,
    enqueue)."""
    from triggers.diagnostics import count_costs

    costs = {}
    for label, storage, runner in (
        ("cache, sync runner", "cache", "sync"),
        ("db, sync runner", "db", "sync"),
        ("cache, rq runner", "cache", "rq"),
    ):
        with override_settings(TRIGGERS={"DEFAULT_RUNNER": runner}):
            manager = TriggerManager.for_session(f"bench-cost-{uuid.uuid4().hex[:8]}", storage)
            manager.update_configuration(CONFIG)
            manager.fire("tick", {"i": -1})  # connections open, scripts loaded
            with count_costs() as counts:
                manager.fire("tick", {"i": 0})
            costs[label] = (counts.redis, counts.sql)
            manager.storage.delete()
    return costs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fires", type=int, default=300, help="fires per measurement")
    parser.add_argument("--rounds", type=int, default=5, help="measurements per size")
    parser.add_argument("--small", type=int, default=100)
    parser.add_argument("--large", type=int, default=10_000)
    parser.add_argument("--whole-session", action="store_true")
    parser.add_argument(
        "--db", action="store_true", help="also the db storage (DATABASE_URL's database)"
    )
    args = parser.parse_args()
    sizes = (args.small, args.large)
    run = f"bench-{uuid.uuid4().hex[:8]}"
    with override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync"}):
        backend = settings.CACHES["default"]["BACKEND"].rsplit(".", 1)[-1]
        print(f"cache storage on {backend} at {settings.CACHES['default']['LOCATION']}")
        # (label, storage class, fires per measurement, filled by firing)
        backends = [("cache", CacheStorageBackend, args.fires, True)]
        if args.db:
            backends.append(("db", DatabaseStorageBackend, max(10, args.fires // 3), False))
        if args.whole_session:
            backends.append(
                ("whole-session", WholeSessionCacheStorage, max(10, args.fires // 10), False)
            )
        results = {
            label: measure(
                label,
                lambda cls=cls: cls(f"{run}-{uuid.uuid4().hex[:6]}"),
                sizes,
                fires,
                args.rounds,
                by_firing=by_firing,
            )
            for label, cls, fires, by_firing in backends
        }
    print()
    print(
        f"{'backend':<15}{'ms/fire @' + str(args.small):>16}{'ms/fire @' + str(args.large):>18}"
        f"{'ratio':>8}"
    )
    for name, figures in results.items():
        ratio = figures[args.large] / figures[args.small]
        print(f"{name:<15}{figures[args.small]:>16.3f}{figures[args.large]:>18.3f}{ratio:>8.2f}")
    print()
    for label, (trips, sql) in costs_per_fire().items():
        print(f"one fire, {label}: {trips} Redis round trips, {sql} SQL statements")
    if "db" in results and "whole-session" in results:
        share = results["db"][args.small] / results["whole-session"][args.small]
        print(
            f"db storage / whole-session document @ {args.small}: {share:.2f} "
            f"(target <= 0.33): {'OK' if share <= 1 / 3 else 'ABOVE TARGET'}"
        )
    cache_ratio = results["cache"][args.large] / results["cache"][args.small]
    print(
        f"\ncache backend ratio {cache_ratio:.2f} (target <= 1.5): "
        f"{'OK' if cache_ratio <= 1.5 else 'ABOVE TARGET'}"
    )


if __name__ == "__main__":
    main()
