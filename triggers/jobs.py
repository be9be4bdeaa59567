"""The RQ job that runs one task instance, from three strings."""

from __future__ import annotations

from typing import Any

from django.db import close_old_connections
from rq import get_current_job

from .execution import execute_instance
from .manager import get_manager
from .watch import Lease, control_connection, same_server, unwatch


def run_instance(storage_name: str, session_uid: str, instance_name: str) -> dict[str, Any]:
    """Run ``instance_name`` if it is still ``scheduled``; a duplicate delivery does nothing.

    While the task runs, a lease in Redis is renewed so that recovery can tell a live run from
    one whose worker died.
    """
    close_old_connections()
    manager = get_manager(session_uid, storage_name)
    connection = control_connection()
    job = get_current_job()
    if job is not None and same_server(job.connection, connection):
        connection = job.connection  # already open in this (possibly forked) process

    lease = Lease(connection, storage_name, session_uid, instance_name)
    try:
        ended = execute_instance(manager, instance_name, on_claim=lease.start)
    finally:
        lease.stop()
        close_old_connections()
    if ended is None:
        return {"instance": instance_name, "ran": False}
    unwatch(connection, storage_name, session_uid, instance_name)
    return {"instance": instance_name, "ran": True, "status": ended.status}
