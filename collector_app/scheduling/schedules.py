"""Schedules run by RQ: each slot is a job that RQ's own scheduler starts (``enqueue_at``).

No second scheduling engine: a worker started with ``--with-scheduler`` (``make worker``) is
all it needs. A slot job first arms the next slot, then runs the pipeline, so a worker that
dies in the middle of a run never breaks the chain. A slot that comes while a run is still
going counts as **missed** and sets ``catch_up``: the missed run starts right after the one in
progress ends, as flowbber's scheduler does. Every re-arm (enable, disable, edit) bumps the
schedule's ``generation``; jobs of an older generation find that out and do nothing, so a
schedule never runs twice per slot however often it is re-armed.
"""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from triggers.rq.jobs import closes_db_connections

from ..conf import collectors_setting
from ..models import PipelineSchedule
from .slots import next_slot

SLOT, CATCH_UP, NOW = "slot", "catch-up", "now"


def _queue(schedule: PipelineSchedule):
    import django_rq

    return django_rq.get_queue(schedule.queue)


def _job_timeout() -> int:
    return int(collectors_setting("JOB_TIMEOUT"))


def _job(schedule: PipelineSchedule, job_id: str) -> Any:
    """The RQ job ``job_id`` on the schedule's Redis, or ``None`` when RQ no longer has it."""
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    try:
        return Job.fetch(job_id, connection=_queue(schedule).connection)
    except NoSuchJobError:
        return None


def _job_alive(schedule: PipelineSchedule, job_id: str) -> bool:
    """Whether job ``job_id`` is on its queue or running."""
    from rq.job import JobStatus

    job = _job(schedule, job_id)
    return job is not None and job.get_status() in (JobStatus.QUEUED, JobStatus.STARTED)


def _delete_job(schedule: PipelineSchedule, job_id: str) -> None:
    job = _job(schedule, job_id)
    if job is not None:
        job.delete()


def _arm_next(schedule: PipelineSchedule, after: datetime) -> None:
    """Set the next slot and enqueue its job when the transaction commits."""
    slot = next_slot(
        after, frequency=schedule.frequency, cron=schedule.cron, start=_anchor(schedule)
    )
    # RQ keeps scheduled times to the second: never let a slot start early.
    if slot.microsecond:
        slot = slot.replace(microsecond=0) + timedelta(seconds=1)
    job_id = f"collector-schedule-{schedule.pk}-{schedule.generation}-{int(slot.timestamp())}"
    schedule.next_run = slot
    schedule.next_job_id = job_id
    pk, generation, queue = schedule.pk, schedule.generation, _queue(schedule)
    transaction.on_commit(
        lambda: queue.enqueue_at(
            slot,
            run_scheduled,
            pk,
            generation,
            SLOT,
            job_id=job_id,
            job_timeout=_job_timeout(),
            description=f"schedule {schedule.name}: pipeline {schedule.pipeline}",
        )
    )


def _anchor(schedule: PipelineSchedule) -> datetime | None:
    """Where the grid of a frequency starts: ``start``, else the schedule's creation (to the
    second), so neither a late slot nor a re-arm moves the slots after it."""
    if schedule.start is not None or schedule.cron:
        return schedule.start
    return schedule.created.replace(microsecond=0)


def _disarm(schedule: PipelineSchedule) -> None:
    old = schedule.next_job_id
    schedule.generation += 1
    schedule.next_run = None
    schedule.next_job_id = ""
    schedule.catch_up = False
    if old:
        transaction.on_commit(lambda: _delete_job(schedule, old))


def arm(schedule: PipelineSchedule | str | int, now: datetime | None = None) -> PipelineSchedule:
    """(Re)start the chain of slot jobs of a schedule from its settings; stop it if disabled."""
    with transaction.atomic():
        schedule = _locked(schedule)
        _disarm(schedule)
        if schedule.enabled:
            _arm_next(schedule, now or timezone.now())
        schedule.save()
    return schedule


def set_enabled(schedule: PipelineSchedule | str | int, enabled: bool) -> PipelineSchedule:
    with transaction.atomic():
        schedule = _locked(schedule)
        schedule.enabled = enabled
        schedule.save(update_fields=["enabled"])
        return arm(schedule)


def run_now(schedule: PipelineSchedule | str | int) -> Any:
    """Enqueue one run at once, enabled or not; behind a run in progress if there is one."""
    schedule = _get(schedule)
    return _queue(schedule).enqueue(
        run_scheduled,
        schedule.pk,
        schedule.generation,
        NOW,
        job_timeout=_job_timeout(),
        description=f"schedule {schedule.name} (run now): pipeline {schedule.pipeline}",
    )


def sync() -> list[PipelineSchedule]:
    """Re-arm enabled schedules whose next slot job is gone (Redis flushed, say)."""
    rearmed = []
    for schedule in PipelineSchedule.objects.filter(enabled=True):
        if not _slot_pending(schedule):
            rearmed.append(arm(schedule))
    return rearmed


def _slot_pending(schedule: PipelineSchedule) -> bool:
    """Whether the next slot job is waiting in RQ's scheduler, on its queue or running."""
    if not schedule.next_job_id:
        return False
    if schedule.next_job_id in _queue(schedule).scheduled_job_registry:
        return True
    return _job_alive(schedule, schedule.next_job_id)


# -- the job ------------------------------------------------------------------------------
@closes_db_connections
def run_scheduled(schedule_id: int, generation: int, kind: str = SLOT) -> dict[str, Any]:
    """The RQ job of one slot (or catch-up, or run-now) of schedule ``schedule_id``."""
    return _run_scheduled(schedule_id, generation, kind)


def _run_scheduled(schedule_id: int, generation: int, kind: str) -> dict[str, Any]:
    from rq import get_current_job

    from ..pipelines.runner import run
    from ..runs import named_pipeline

    job = get_current_job()
    job_id = job.id if job is not None else f"local-{uuid.uuid4().hex}"
    now = timezone.now()
    with transaction.atomic():
        schedule = PipelineSchedule.objects.select_for_update().filter(pk=schedule_id).first()
        if schedule is None:
            return {"skipped": "the schedule was deleted"}
        if kind != NOW and (schedule.generation != generation or not schedule.enabled):
            return {"skipped": "the schedule was re-armed or disabled"}
        if kind == SLOT:
            _arm_next(schedule, now)
        if _run_in_progress(schedule, now):
            if kind == SLOT:
                schedule.missed += 1
            schedule.catch_up = True
            schedule.save()
            return {"missed" if kind == SLOT else "deferred": schedule.running_job_id}
        schedule.running_job_id = job_id
        schedule.running_since = now
        if kind != NOW:
            schedule.catch_up = False
        schedule.save()

    error = ""
    try:
        result = run(named_pipeline(schedule.pipeline))
        passed, error = result.passed, result.error
    except Exception as exc:  # an unknown pipeline or a bad definition is a failed run
        passed, error = False, f"{type(exc).__name__}: {exc}"

    with transaction.atomic():
        schedule = PipelineSchedule.objects.select_for_update().get(pk=schedule_id)
        if schedule.running_job_id == job_id:
            schedule.running_job_id = ""
            schedule.running_since = None
        schedule.passed += passed
        schedule.failed += not passed
        schedule.last_run = now
        schedule.last_status = "passed" if passed else "failed"
        done = schedule.samples is not None and schedule.passed >= schedule.samples
        if done or (not passed and schedule.stop_on_failure):
            schedule.enabled = False
            _disarm(schedule)
        elif schedule.catch_up and schedule.enabled:
            schedule.catch_up = False
            pk, gen, queue = schedule.pk, schedule.generation, _queue(schedule)
            transaction.on_commit(
                lambda: queue.enqueue(run_scheduled, pk, gen, CATCH_UP, job_timeout=_job_timeout())
            )
        schedule.save()
    if not passed:
        raise RuntimeError(
            f"schedule {schedule.name}: pipeline {schedule.pipeline!r} failed: {error}"
        )
    return {"schedule": schedule.name, "status": "passed"}


def _run_in_progress(schedule: PipelineSchedule, now: datetime) -> bool:
    """Whether the run marked on the schedule is still going (its job alive, within timeout)."""
    if not schedule.running_job_id:
        return False
    if schedule.running_since and now - schedule.running_since > timedelta(
        seconds=_job_timeout() + 60
    ):
        return False
    if schedule.running_job_id.startswith("local-"):
        return True
    return _job_alive(schedule, schedule.running_job_id)


def _get(schedule: PipelineSchedule | str | int) -> PipelineSchedule:
    if isinstance(schedule, PipelineSchedule):
        return schedule
    field = "pk" if isinstance(schedule, int) else "name"
    try:
        return PipelineSchedule.objects.get(**{field: schedule})
    except PipelineSchedule.DoesNotExist:
        raise LookupError(f"no pipeline schedule {schedule!r}") from None


def _locked(schedule: PipelineSchedule | str | int) -> PipelineSchedule:
    pk = _get(schedule).pk
    return PipelineSchedule.objects.select_for_update().get(pk=pk)
