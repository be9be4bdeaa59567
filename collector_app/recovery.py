"""Pipeline and gather runs whose process was killed end ``failed`` ("process lost").

A run's row (``PipelineRun``, ``GatherRun``) says ``running`` from its start; while it runs,
its process holds a **lease** in Redis (``triggers.watch.Lease``: the same heartbeat, key
scheme and ``TRIGGERS["LEASE_TIMEOUT"]`` as trigger instances), renewed by a daemon thread.
A process that is killed stops renewing it; ``recover_runs`` then marks the row ``failed``
with a "process lost" error. It runs on every ``triggers`` recovery pass (the workers'
periodic pass, ``manage.py triggers_recover``) through the ``triggers.signals.recovery_pass``
signal, connected in ``CollectorAppConfig.ready()``, and by hand with
``manage.py collector_recover``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone

from triggers.conf import triggers_setting
from triggers.rq.lease import Lease, lease_alive
from triggers.rq.watch import control_connection

RUNNING, FAILED = "running", "failed"
PIPELINE, GATHER = "pipeline", "gather"
#: The lease namespace ("storage" of ``triggers.watch``) of collector runs.
LEASE_SPACE = "collector_app"


def _models() -> dict[str, tuple[Any, str]]:
    """Run model and its name column, per kind."""
    from .models import GatherRun, PipelineRun

    return {PIPELINE: (PipelineRun, "pipeline"), GATHER: (GatherRun, "collection")}


def _lease_name(run_id: int, started: datetime) -> str:
    """The row's id and start: ids alone repeat across databases sharing one Redis (and in
    test databases), so a stale lease of another row could keep this one "alive"."""
    if timezone.is_aware(started):
        started = started.astimezone(UTC)
    return f"{run_id}@{started:%Y-%m-%dT%H:%M:%S.%f}"


@contextmanager
def run_lease(kind: str, run_id: int) -> Iterator[Lease]:
    """Hold the lease of run ``run_id`` (of ``kind``) while the block runs."""
    model = _models()[kind][0]
    started = model.objects.values_list("started", flat=True).get(pk=run_id)
    lease = Lease(control_connection(), LEASE_SPACE, kind, _lease_name(run_id, started))
    lease.start()
    try:
        yield lease
    finally:
        lease.stop()


def _lost_error(timeout: float) -> str:
    return (
        f"process lost: no heartbeat for more than {timeout:g}s (the worker or command running "
        f"it was killed or lost its connection); run it again"
    )


def recover_runs(now: datetime | None = None, **_: Any) -> list[str]:
    """Mark ``failed`` every running pipeline or gather run whose lease expired.

    Rows younger than ``LEASE_TIMEOUT`` are left alone (their lease may not be taken yet).
    The update is conditional on the row still being ``running``, so a run that ends at the
    same moment keeps its own outcome. Returns one line per run marked failed.
    """
    now = now or timezone.now()
    timeout = float(triggers_setting("LEASE_TIMEOUT"))
    cutoff = now - timedelta(seconds=timeout)
    connection = control_connection()
    error = _lost_error(timeout)
    repaired = []
    for kind, (model, label) in _models().items():
        rows = model.objects.filter(status=RUNNING, started__lt=cutoff)
        for pk, name, started in rows.values_list("pk", label, "started"):
            if lease_alive(connection, LEASE_SPACE, kind, _lease_name(pk, started)):
                continue
            ended = {"duration": (now - started).total_seconds()}
            if kind == GATHER:
                ended = {"finished": now}
            if model.objects.filter(pk=pk, status=RUNNING).update(
                status=FAILED, error=error, **ended
            ):
                repaired.append(f"{kind} run {pk} ({name}) marked failed: process lost")
    return repaired
