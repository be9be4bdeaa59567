"""Pipelines as RQ jobs: functions a django-rq worker runs off a queue, outside any trigger
session (``enqueue_pipeline``). Arguments are names only, never pickled objects.

Not to be confused with ``collector_app.tasks``: *trigger tasks* (``run: "pipeline:<name>"``),
which a trigger session runs as one of its instances, whatever runner it uses. Both call
``collector_app.run``; ``collector_app.gathering`` has the same pair (``jobs``, ``tasks``).
"""

from __future__ import annotations

from triggers.rq.jobs import closes_db_connections

from .pipelines.runner import run
from .runs import named_pipeline


@closes_db_connections
def run_pipeline(name: str) -> dict:
    """Run the pipeline configured as ``name`` (``collector_app.run``); fail the job if it fails."""
    result = run(named_pipeline(name))
    if not result.passed:
        raise RuntimeError(f"pipeline {name!r} failed: {result.error}")
    return {"pipeline": name, "status": result.status, "duration": result.duration}


def enqueue_pipeline(name: str, queue: str = "default"):
    """Put a run of pipeline ``name`` on an RQ queue."""
    import django_rq

    named_pipeline(name)  # fail here, not in the worker, if the name or definition is wrong
    return django_rq.get_queue(queue).enqueue(run_pipeline, name, description=f"pipeline {name}")
