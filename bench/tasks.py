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
