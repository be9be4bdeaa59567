"""RQ jobs of collector_app: arguments are names only, never pickled objects."""

from __future__ import annotations

from django.db import close_old_connections

from .pipelines.runner import run
from .runs import named_pipeline


def run_pipeline(name: str) -> dict:
    """Run the pipeline configured as ``name`` (``collector_app.run``); fail the job if it fails."""
    close_old_connections()
    try:
        result = run(named_pipeline(name))
    finally:
        close_old_connections()
    if not result.passed:
        raise RuntimeError(f"pipeline {name!r} failed: {result.error}")
    return {"pipeline": name, "status": result.status, "duration": result.duration}


def enqueue_pipeline(name: str, queue: str = "default"):
    """Put a run of pipeline ``name`` on an RQ queue."""
    import django_rq

    named_pipeline(name)  # fail here, not in the worker, if the name or definition is wrong
    return django_rq.get_queue(queue).enqueue(run_pipeline, name, description=f"pipeline {name}")
