"""Jobs and tasks the benchmarks run on real workers (importable as ``bench.tasks``)."""


def noop_job() -> None:
    return None


def noop_task(context) -> None:
    return None


def tick_session(prefix: str, queue: str):
    """A session whose one task runs ``noop_task`` on ``queue`` for every ``tick`` fired."""
    import uuid

    from triggers import TriggerManager

    manager = TriggerManager.for_session(f"{prefix}-{uuid.uuid4().hex[:8]}")
    manager.update_configuration(
        {
            "each": {
                "after": ["tick"],
                "andEvery": "tick",
                "run": "bench.tasks.noop_task",
                "queue": queue,
            }
        }
    )
    return manager


def session_redis_bytes(storage) -> tuple[int, int]:
    """Redis bytes (``MEMORY USAGE``, every element) of a ``cache`` session's keys and, of
    those, its status index's. Per key: other databases of a shared server do not count."""
    from triggers.storages.cache_index import CacheIndex

    client, raw = storage.kv.client, storage.kv.raw_key
    index = CacheIndex(storage, storage.kv)
    index_keys = {raw(key) for key in index.keys(sorted(storage.tasks))}
    chunks_key = getattr(index, "chunks_key", None)  # None: a checkout from before the chunks
    if chunks_key is not None:
        index_keys |= {key.decode() for key in client.smembers(raw(chunks_key))}
    total = index_total = 0
    for key in client.scan_iter(match=raw(storage.key("*")), count=10_000):
        size = client.memory_usage(key, samples=0) or 0
        total += size
        if key.decode() in index_keys:
            index_total += size
    return total, index_total


def lease_redis_bytes(connection) -> tuple[int, int]:
    """Lease keys left on the queue's Redis (``triggers:lease:*``): how many, how many bytes."""
    keys = list(connection.scan_iter(match="triggers:lease:*", count=10_000))
    return len(keys), sum(connection.memory_usage(key, samples=0) or 0 for key in keys)
