"""The RQ job that runs one task instance, from three strings, and helpers for RQ jobs.

Jobs are enqueued under ``JOB_PATH`` (``triggers.jobs.run_instance``), the path jobs already
queued in Redis carry: it stays importable, and workers of either version run either's jobs.
This module imports no models at import time, so that any app's job module can use its helpers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from django.db import close_old_connections
from rq import get_current_job

from .job_path import JobPath, in_fresh_work_horse
from .watch import control_connection, same_server

#: The dotted path RQ stores for ``run_instance`` jobs (the name it had before ``triggers.rq``).
JOB_PATH = "triggers.jobs.run_instance"
#: Every path a ``run_instance`` job may carry.
JOB_PATHS = frozenset({JOB_PATH, "triggers.rq.jobs.run_instance"})

P = ParamSpec("P")
R = TypeVar("R")


def closes_db_connections(job: Callable[P, R]) -> Callable[P, R]:
    """Close stale database connections before and after an RQ job, as Django does around a
    request: a long-lived worker otherwise hands a job a connection the server dropped.

    Not in a work horse of ``triggers.rq.worker.Worker``: its worker closed them all before the
    fork, and the horse exits after the job."""

    @functools.wraps(job)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        if in_fresh_work_horse():
            return job(*args, **kwargs)
        close_old_connections()
        try:
            return job(*args, **kwargs)
        finally:
            close_old_connections()

    return wrapper


@closes_db_connections
def run_instance(storage_name: str, session_uid: str, instance_name: str) -> dict[str, Any]:
    """Run ``instance_name`` if it is still ``scheduled``; a duplicate delivery does nothing.

    While the task runs, a lease in Redis is renewed so that recovery can tell a live run from
    one whose worker died (``triggers.rq.job_path``).
    """
    from ..execution import execute_instance
    from ..manager import get_manager

    manager = get_manager(session_uid, storage_name)
    connection = control_connection()
    job = get_current_job()
    if job is not None and same_server(job.connection, connection):
        connection = job.connection  # already open in this (possibly forked) process

    path = JobPath(manager, connection, instance_name)
    try:
        ended = execute_instance(manager, instance_name, claim=path.claim)
    finally:
        path.release()
    if ended is None:
        return {"instance": instance_name, "ran": False}
    path.end_watch()
    return {"instance": instance_name, "ran": True, "status": ended.status}
