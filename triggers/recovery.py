"""Find and repair what crashed workers left behind; idempotent, safe to run from anywhere.

A pass looks at every instance on the watch list (see ``triggers.watch``) and, because Redis may
have lost that list (restarted empty), at every ``scheduled`` or ``running`` instance the ``db``
storage holds. Only instances of recoverable runners (``rq``, ``sync``) are repaired:

* resolved, failed or gone: dropped from the list;
* ``running`` with no live lease for longer than ``LEASE_TIMEOUT``: the process running it
  died; the instance is marked ``failed`` (``WorkerLost``) and can be replayed;
* ``scheduled`` for longer than ``RECOVERY_GRACE`` with no pending RQ job (never enqueued
  because the process died after saving the session, or the job expired or failed): enqueued
  again, at most ``RECOVERY_MAX_REQUEUES`` times, then marked ``failed`` (``Undeliverable``);
* ``scheduled`` on the ``sync`` runner, which leases what it queued, with no live lease for
  longer than ``LEASE_TIMEOUT``: the process died before running it; ``failed`` (``WorkerLost``).

Then it sends ``triggers.signals.recovery_pass``, so other apps repair their own runs (see
that module); what they repaired is in the report's ``repaired``.

Finishing an instance and firing its cascade are one write, so a crash can never leave a
finished instance without its cascade; what it can lose is the enqueueing of the downstream
jobs, which the ``scheduled`` rule above redoes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from .conf import triggers_setting
from .manager import get_manager
from .rq.lease import lease_alive
from .rq.watch import control_connection, unwatch, watch, watched
from .runners import get_runner
from .runners.base import BaseRunner
from .session_index import flush_pending_counts
from .signals import recovery_pass
from .types import STATUS_RUNNING, STATUS_SCHEDULED, TaskInstance

logger = logging.getLogger("triggers.recovery")

PENDING_JOB_STATUSES = {"queued", "scheduled", "deferred", "started"}


@dataclass
class RecoveryReport:
    checked: int = 0
    requeued: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    forgotten: int = 0
    #: What the ``recovery_pass`` receivers (other apps) repaired, one line each.
    repaired: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        return (
            f"checked {self.checked} instances in flight: {len(self.requeued)} re-enqueued, "
            f"{len(self.failed)} marked failed, {self.forgotten} no longer in need of watching"
            + (f"; {len(self.repaired)} other repairs" if self.repaired else "")
            + (f", {len(self.errors)} errors" if self.errors else "")
        )


def _age(inst: TaskInstance, status: str, now: datetime) -> float:
    stamp = inst.metadata.get("timestamps", {}).get(status)
    if not stamp:
        return float("inf")
    return (now - datetime.fromisoformat(stamp)).total_seconds()


def _job_statuses(instances: list[TaskInstance]) -> dict[str, str]:
    """RQ status of each instance's job (job id -> status), one pipeline per queue connection."""
    from rq.job import Job

    from .rq.watch import queue_connection

    default_queue = triggers_setting("RQ_QUEUE")
    by_queue: dict[str, list[str]] = {}
    for inst in instances:
        job_id = inst.metadata.get("rq_job_id")
        if job_id:
            by_queue.setdefault(inst.metadata.get("rq_queue") or default_queue, []).append(job_id)
    statuses: dict[str, str] = {}
    for queue, job_ids in by_queue.items():
        with queue_connection(queue).pipeline(transaction=False) as pipe:
            for job_id in job_ids:
                pipe.hget(Job.key_for(job_id), "status")
            for job_id, status in zip(job_ids, pipe.execute(), strict=True):
                if status is not None:
                    statuses[job_id] = status.decode() if isinstance(status, bytes) else status
    return statuses


def _job_pending(inst: TaskInstance, statuses: dict[str, str]) -> bool:
    return statuses.get(inst.metadata.get("rq_job_id") or "") in PENDING_JOB_STATUSES


def recover(now: datetime | None = None, limit: int | None = None) -> RecoveryReport:
    """One recovery pass over the watched instances and those in flight in the database.

    Only entries older than ``min(RECOVERY_GRACE, LEASE_TIMEOUT)`` can need repair (a younger
    one is within its grace or its lease), so only those are read: at most ``limit`` (default
    ``TRIGGERS["RECOVERY_BATCH"]``) of each source, oldest first, the next pass taking the
    rest. Instances are read one session at a time (one read per session) and the jobs of those
    past their grace in one pipeline.
    """
    now = now or datetime.now(UTC)
    limit = int(triggers_setting("RECOVERY_BATCH")) if limit is None else limit
    grace = float(triggers_setting("RECOVERY_GRACE"))
    until = now - timedelta(seconds=min(grace, float(triggers_setting("LEASE_TIMEOUT"))))
    connection = control_connection()
    report = RecoveryReport()
    try:
        flush_pending_counts()
    except Exception as exc:  # the database may be away; the counts wait for the next pass
        report.errors.append(f"session counts: {type(exc).__name__}: {exc}")
    candidates = dict.fromkeys(watched(connection, until.timestamp(), limit))  # oldest first
    on_list = set(candidates)
    try:
        candidates.update(dict.fromkeys(instances_in_flight(until, limit)))
    except Exception as exc:  # the database may be away; the watch list is still checked
        report.errors.append(f"instances in the database: {type(exc).__name__}: {exc}")
    sessions: dict[tuple[str, str], list[str]] = {}
    for storage, uid, name in candidates:
        sessions.setdefault((storage, uid), []).append(name)
    for (storage, uid), names in sessions.items():
        try:
            manager = get_manager(uid, storage)
            found = {inst.name: inst for inst in manager.storage.snapshot().instances(names)}
        except Exception as exc:
            logger.exception("recovery of session %s (storage %s) failed", uid, storage)
            report.checked += len(names)
            report.errors.append(f"{uid}: {type(exc).__name__}: {exc}")
            continue
        overdue = [
            inst
            for inst in found.values()
            if inst.status == STATUS_SCHEDULED
            and _age(inst, STATUS_SCHEDULED, now) > float(triggers_setting("RECOVERY_GRACE"))
        ]
        try:
            statuses = _job_statuses(overdue) if overdue else {}
        except Exception as exc:
            report.errors.append(f"{uid}: jobs: {type(exc).__name__}: {exc}")
            continue
        for name in names:
            report.checked += 1
            where = f"{uid}/{name}"
            try:
                inst = found.get(name)
                if _recover_one(connection, manager, inst, statuses, now, report):
                    if (storage, uid, name) in on_list:
                        unwatch(connection, storage, uid, name)
                        report.forgotten += 1
            except Exception as exc:
                logger.exception("recovery of %s (storage %s) failed", where, storage)
                report.errors.append(f"{where}: {type(exc).__name__}: {exc}")
    _send_recovery_pass(now, report)
    if report.requeued or report.failed or report.repaired or report.errors:
        logger.warning("triggers recovery: %s", report.summary())
    return report


def instances_in_flight(
    until: datetime | None = None, limit: int | None = None
) -> list[tuple[str, str, str]]:
    """What the database knows is ``scheduled`` or ``running`` (sessions of the ``db`` storage)."""
    from .storages.db import instances_in_flight as in_database

    return in_database(until=until, limit=limit)


def _send_recovery_pass(now: datetime, report: RecoveryReport) -> None:
    """Let other apps repair their runs; one receiver failing never stops the others."""
    for receiver, outcome in recovery_pass.send_robust(sender=RecoveryReport, now=now):
        if isinstance(outcome, Exception):
            where = getattr(receiver, "__qualname__", repr(receiver))
            logger.error("recovery receiver %s failed", where, exc_info=outcome)
            report.errors.append(f"{where}: {type(outcome).__name__}: {outcome}")
        elif outcome:
            report.repaired.extend(str(line) for line in outcome)


def _recover_one(
    connection: Any,
    manager: Any,
    inst: TaskInstance | None,
    statuses: dict[str, str],
    now: datetime,
    report: RecoveryReport,
) -> bool:
    """Repair one instance; True when it no longer needs watching."""
    if inst is None or inst.status not in (STATUS_SCHEDULED, STATUS_RUNNING):
        return True
    storage, uid, name = manager.storage.name, manager.session_uid, inst.name
    runner = get_runner(inst.metadata.get("runner"))
    if not runner.recoverable:
        return True  # neither watched nor leased: its runner answers for it
    where = f"{uid}/{name}"
    if inst.status == STATUS_RUNNING or not runner.can_requeue:
        return _fail_if_unleased(connection, manager, inst, runner, now, report)
    if _age(inst, STATUS_SCHEDULED, now) <= float(
        triggers_setting("RECOVERY_GRACE")
    ) or _job_pending(inst, statuses):
        return False
    requeues = int(inst.metadata.get("requeued", 0))
    if requeues >= int(triggers_setting("RECOVERY_MAX_REQUEUES")):
        if manager.fail_instance(
            name,
            "Undeliverable",
            f"its job was lost or failed {requeues + 1} times before the task could start",
            only_if=lambda current: current.status == STATUS_SCHEDULED,
        ):
            report.failed.append(where)
        return True
    manager.update_instance_metadata(name, {"requeued": requeues + 1})
    delay = 0.0
    if inst.metadata.get("not_before"):
        delay = max(
            0.0, (datetime.fromisoformat(inst.metadata["not_before"]) - now).total_seconds()
        )
    watch(connection, storage, uid, name)  # back on the list if Redis had lost it
    runner.requeue(storage, uid, inst, delay)
    report.requeued.append(where)
    return False


def _fail_if_unleased(
    connection: Any,
    manager: Any,
    inst: TaskInstance,
    runner: BaseRunner,
    now: datetime,
    report: RecoveryReport,
) -> bool:
    """Fail an instance whose lease lapsed for longer than ``LEASE_TIMEOUT``; True if failed.

    A ``running`` instance holds a lease while its task runs; a ``scheduled`` one of a runner
    that cannot re-enqueue (``sync``) holds one from the moment its process queued it.
    """
    storage, uid, name, status = manager.storage.name, manager.session_uid, inst.name, inst.status
    lease_timeout = float(triggers_setting("LEASE_TIMEOUT"))
    if lease_alive(connection, storage, uid, name) or _age(inst, status, now) <= lease_timeout:
        return False
    inline = not runner.can_requeue
    holder = f"the process running it inline (runner {runner.name!r})" if inline else "the worker"
    if status == STATUS_RUNNING:
        message = (
            f"abandoned by its {'process' if inline else 'worker'}: no heartbeat for more than "
            f"{lease_timeout:g}s ({holder} was killed or lost its connection); "
            f"replay it to run it again"
        )
    else:
        message = (
            f"abandoned before it started: no heartbeat for more than {lease_timeout:g}s "
            f"({holder} was killed or lost its connection); replay it to run it"
        )
    failed = manager.fail_instance(
        name,
        "WorkerLost",
        message,
        only_if=lambda current: (
            current.status == status and not lease_alive(connection, storage, uid, name)
        ),
    )
    if failed is not None:
        report.failed.append(f"{uid}/{name}")
    return failed is not None
