"""RQ jobs of collector_app: arguments are names only, never pickled objects."""

from __future__ import annotations

from django.db import close_old_connections

from .runs import run_named


def run_pipeline(name: str) -> dict:
    """Run the pipeline configured as ``name`` and record its journal; fail the job if it fails."""
    close_old_connections()
    try:
        journal = run_named(name)
    finally:
        close_old_connections()
    if not journal.passed:
        raise RuntimeError(f"pipeline {name!r} failed: {journal.error}")
    return {"pipeline": name, "status": journal.status, "duration": journal.duration}


def enqueue_pipeline(name: str, queue: str = "default"):
    """Put a run of pipeline ``name`` on an RQ queue."""
    import django_rq

    from .runs import named_pipeline

    named_pipeline(name)  # fail here, not in the worker, if the name or definition is wrong
    return django_rq.get_queue(queue).enqueue(run_pipeline, name, description=f"pipeline {name}")
