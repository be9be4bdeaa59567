"""Find and repair what crashed workers left behind; idempotent, safe to run from anywhere.

For each instance on the watch list (see ``triggers.watch``):

* resolved, failed or gone: dropped from the list;
* ``running`` with no live lease for longer than ``LEASE_TIMEOUT``: its worker died; the
  instance is marked ``failed`` (``WorkerLost``) and can be replayed;
* ``scheduled`` for longer than ``RECOVERY_GRACE`` with no pending RQ job (never enqueued
  because the process died after saving the session, or the job expired or failed): enqueued
  again, at most ``RECOVERY_MAX_REQUEUES`` times, then marked ``failed`` (``Undeliverable``).

Then it sends ``triggers.signals.recovery_pass``, so other apps repair their own runs (see
that module); what they repaired is in the report's ``repaired``.

Finishing an instance and firing its cascade are one write, so a crash can never leave a
finished instance without its cascade; what it can lose is the enqueueing of the downstream
jobs, which the ``scheduled`` rule above redoes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from .conf import triggers_setting
from .manager import get_manager
from .registry import flush_pending_counts
from .runners import get_runner
from .signals import recovery_pass
from .types import STATUS_RUNNING, STATUS_SCHEDULED, TaskInstance
from .watch import control_connection, lease_alive, unwatch, watched

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
            f"checked {self.checked} watched instances: {len(self.requeued)} re-enqueued, "
            f"{len(self.failed)} marked failed, {self.forgotten} no longer in need of watching"
            + (f"; {len(self.repaired)} other repairs" if self.repaired else "")
            + (f", {len(self.errors)} errors" if self.errors else "")
        )


def _age(inst: TaskInstance, status: str, now: datetime) -> float:
    stamp = inst.metadata.get("timestamps", {}).get(status)
    if not stamp:
        return float("inf")
    return (now - datetime.fromisoformat(stamp)).total_seconds()


def _job_pending(inst: TaskInstance) -> bool:
    import django_rq
    from rq.exceptions import NoSuchJobError
    from rq.job import Job

    job_id = inst.metadata.get("rq_job_id")
    if not job_id:
        return False
    connection = django_rq.get_connection(inst.metadata.get("rq_queue") or "default")
    try:
        status = Job.fetch(job_id, connection=connection).get_status(refresh=False)
    except NoSuchJobError:
        return False
    return str(getattr(status, "value", status)) in PENDING_JOB_STATUSES


def recover(now: datetime | None = None) -> RecoveryReport:
    """One recovery pass over every watched instance."""
    now = now or datetime.now(UTC)
    connection = control_connection()
    report = RecoveryReport()
    try:
        flush_pending_counts()
    except Exception as exc:  # the database may be away; the counts wait for the next pass
        report.errors.append(f"session counts: {type(exc).__name__}: {exc}")
    for storage, uid, name in watched(connection):
        report.checked += 1
        where = f"{uid}/{name}"
        try:
            if _recover_one(connection, storage, uid, name, now, report):
                unwatch(connection, storage, uid, name)
                report.forgotten += 1
        except Exception as exc:
            logger.exception("recovery of %s (storage %s) failed", where, storage)
            report.errors.append(f"{where}: {type(exc).__name__}: {exc}")
    _send_recovery_pass(now, report)
    if report.requeued or report.failed or report.repaired or report.errors:
        logger.warning("triggers recovery: %s", report.summary())
    return report


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
    connection: Any, storage: str, uid: str, name: str, now: datetime, report: RecoveryReport
) -> bool:
    """Repair one instance; True when it no longer needs watching."""
    manager = get_manager(uid, storage)
    inst = manager.storage.snapshot().find_instance(name)
    if inst is None or inst.status not in (STATUS_SCHEDULED, STATUS_RUNNING):
        return True
    where = f"{uid}/{name}"
    lease_timeout = float(triggers_setting("LEASE_TIMEOUT"))
    if inst.status == STATUS_RUNNING:
        if lease_alive(connection, storage, uid, name) or _age(inst, STATUS_RUNNING, now) <= (
            lease_timeout
        ):
            return False
        failed = manager.fail_instance(
            name,
            "WorkerLost",
            f"abandoned by its worker: no heartbeat for more than {lease_timeout:g}s "
            f"(the worker was killed or lost its connection); replay it to run it again",
            only_if=lambda current: (
                current.status == STATUS_RUNNING and not lease_alive(connection, storage, uid, name)
            ),
        )
        if failed is not None:
            report.failed.append(where)
        return failed is not None
    if _job_pending(inst) or _age(inst, STATUS_SCHEDULED, now) <= float(
        triggers_setting("RECOVERY_GRACE")
    ):
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
    runner = get_runner(inst.metadata.get("runner"))
    if not hasattr(runner, "enqueue"):
        report.errors.append(f"{where}: runner {runner.name!r} cannot re-enqueue")
        return False
    manager.update_instance_metadata(name, {"requeued": requeues + 1})
    delay = 0.0
    if inst.metadata.get("not_before"):
        delay = max(
            0.0, (datetime.fromisoformat(inst.metadata["not_before"]) - now).total_seconds()
        )
    runner.enqueue(storage, uid, name, inst.metadata.get("rq_queue") or "default", delay)
    report.requeued.append(where)
    return False
