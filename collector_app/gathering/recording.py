"""Gather runs in ``GatherRun``: one row per gather, written when it starts and when it ends."""

from __future__ import annotations

from django.utils import timezone

from triggers.execution import current_task

from .results import GatherResult

RUNNING = "running"


def record_start(result: GatherResult) -> int:
    from collector_app.models import GatherRun

    session_uid, instance = current_task() or ("", "")
    run = GatherRun.objects.create(
        collection=result.collection,
        started=timezone.now(),
        status=RUNNING,
        dry_run=result.dry_run,
        since=result.since,
        until=result.until,
        session_uid=session_uid,
        instance=instance,
    )
    return run.pk


def record_finish(result: GatherResult) -> None:
    from collector_app.models import GatherRun

    if result.run_id is None:  # never recorded (record_start was not called)
        return
    GatherRun.objects.filter(pk=result.run_id).update(
        finished=timezone.now(),
        status=result.status,
        result=result.to_dict(),
        error="\n".join(result.errors),
    )
