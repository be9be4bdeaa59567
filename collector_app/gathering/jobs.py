"""Gathering as an RQ job, put on a queue outside any trigger session (the trigger task is
``collector_app.gathering.tasks``): arguments are names and ISO strings, never pickled objects."""

from __future__ import annotations

from typing import Any

from triggers.rq.jobs import closes_db_connections

from . import windows
from .engine import gather
from .gatherer import gatherer_for
from .results import FAILED, PARTIAL


@closes_db_connections
def run_gather(
    name: str,
    since: str | None = None,
    until: str | None = None,
    dry_run: bool = False,
    dest: str | None = None,
) -> dict[str, Any]:
    """Gather collection ``name``; the job fails when the gather failed or partly failed (a
    refused or disabled gather is not a failure: it returns its result)."""
    result = gather(
        name, since=since, until=until, dry_run=dry_run, dest=dest, collection_type="scheduled"
    )
    if result.status in (FAILED, PARTIAL):
        raise RuntimeError(f"gather {name!r} {result.status}: {'; '.join(result.errors)}")
    return result.to_dict()


def enqueue_gather(
    name: str,
    queue: str = "default",
    *,
    since: str | None = None,
    until: str | None = None,
    dry_run: bool = False,
    dest: str | None = None,
):
    """Put a gather of collection ``name`` on an RQ queue (the name and window are checked
    here, not in the worker)."""
    import django_rq

    gatherer = gatherer_for(name)
    since_at, until_at = windows.aware(since, "since"), windows.aware(until, "until")
    if since_at and until_at and since_at >= until_at:
        raise windows.InvertedWindowError(f"since {since} is not before until {until}")
    if dry_run and not dest:
        raise ValueError("a dry run keeps its tarballs: give dest, the folder to keep them in")
    gatherer.get_collection()  # a broken collection module fails here
    return django_rq.get_queue(queue).enqueue(
        run_gather,
        name,
        since_at.isoformat() if since_at else None,
        until_at.isoformat() if until_at else None,
        dry_run,
        str(dest) if dest else None,
        description=f"gather {name}",
    )
