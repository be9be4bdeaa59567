"""What the admin polls and what it knows about workers: the live JSON and the queues panel.

The session page and the session list refresh themselves from ``live_payload`` / ``list_payload``
(served as JSON by ``triggers.admin_views``); the queues panel reads RQ's own registries, so "is
any worker alive?" is answered by RQ's worker registry, not guessed.
"""

from __future__ import annotations

import logging
from typing import Any

from django.urls import NoReverseMatch, reverse

from . import session_index
from .admin_display import live_state
from .conf import triggers_setting
from .storages.status_index import StatusSummary, summarize
from .types import RESOLVED_STATUSES, STATUSES, TaskInstance

logger = logging.getLogger("triggers.admin")


def queue_index(name: str) -> int | None:
    from django_rq.settings import get_queues_map

    return get_queues_map().get(name)


def rq_url(view: str, queue: str, *args: str) -> str | None:
    """A link into django-rq's pages, when ``django_rq.urls`` is mounted and the queue known."""
    index = queue_index(queue)
    if index is None:
        return None
    try:
        return reverse(view, args=[index, *args])
    except NoReverseMatch:
        return None


def queues_panel(names: list[str] | None = None) -> dict[str, Any]:
    """Per queue: waiting jobs, scheduled and failed job counts, and the live workers on it."""
    import django_rq
    from rq import Worker
    from rq.registry import FailedJobRegistry, ScheduledJobRegistry, StartedJobRegistry

    from .rq.runner import configured_queues

    rows = []
    try:
        for name in names or sorted(configured_queues()):
            queue = django_rq.get_queue(name)
            workers = Worker.all(queue=queue)
            rows.append(
                {
                    "name": name,
                    "url": rq_url("rq_jobs", name),
                    "workers_url": rq_url("rq_workers", name),
                    "length": queue.count,
                    "started": StartedJobRegistry(queue=queue).count,
                    "scheduled": ScheduledJobRegistry(queue=queue).count,
                    "failed": FailedJobRegistry(queue=queue).count,
                    "workers": sorted(worker.name for worker in workers),
                }
            )
    except Exception as exc:  # Redis down or misconfigured: say so, the page still renders
        logger.warning("queues panel: %s", exc)
        return {"queues": rows, "error": f"cannot read the queues: {type(exc).__name__}: {exc}"}
    return {"queues": rows, "error": None}


def session_queues(instances: list[TaskInstance]) -> list[str]:
    """The RQ queues an (in-flight or failed) session's instances run on."""
    names = {
        inst.metadata.get("rq_queue") or triggers_setting("RQ_QUEUE")
        for inst in instances
        if inst.metadata.get("runner", triggers_setting("DEFAULT_RUNNER")) == "rq"
    }
    return sorted(names)


def idle_queues_warning(queues: list[str]) -> str | None:
    """A sentence for the action's message when no live worker listens on a session's queue."""
    if not queues:
        return None
    panel = queues_panel(queues)
    if panel["error"]:
        return panel["error"]
    idle = [row["name"] for row in panel["queues"] if not row["workers"]]
    if not idle:
        return None
    names = ", ".join(idle)
    return (
        f"No live worker listens on queue {names}: the instances stay scheduled until one "
        f"starts (python manage.py rqworker {' '.join(idle)} --with-scheduler)."
    )


def task_counts(instances: list[TaskInstance]) -> dict[str, dict[str, int]]:
    """Task name -> status -> number of instances (what the graph's nodes show)."""
    return session_index.task_counts(instances)


def is_resolved(instances: list[TaskInstance]) -> bool:
    """Every instance resolved: nothing will change without an operator, polling may stop."""
    return bool(instances) and all(inst.status in RESOLVED_STATUSES for inst in instances)


def live_payload(
    session: Any, summary: StatusSummary | list[TaskInstance], shown: list[TaskInstance]
) -> dict[str, Any]:
    """Status, counts and the shown page's instances of one session, small enough to poll.

    ``summary``: the session's status summary (or, for older callers, all its instances)."""
    if not isinstance(summary, StatusSummary):
        summary = summarize(summary)
    counts = summary.counts
    return {
        "uid": session.uid,
        "resolved": summary.resolved,
        "in_flight": counts["scheduled"] + counts["running"],
        "counts": {status: counts[status] for status in STATUSES},
        "tasks": summary.tasks,
        "instances": [live_state(inst) for inst in shown],
    }


def list_payload(sessions: list[Any]) -> dict[str, Any]:
    """Per-status counts of the listed sessions, from the session table (no storage reads)."""
    return {
        "sessions": {
            str(session.pk): {
                "counts": session.status_counts,
                "unresolved": session.unresolved_count,
                "updated": session.updated.isoformat(),
            }
            for session in sessions
        }
    }
