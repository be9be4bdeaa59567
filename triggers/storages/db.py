"""The ``db`` storage backend: sessions as rows of the ``triggers`` models.

A unit of work is a database transaction that starts by bumping the session row's ``version``:
on PostgreSQL that takes the row's lock, on SQLite the database's write lock, so concurrent
writers on one session queue up in the database and a lock can never expire under a writer
that stalled (the lock is the transaction). Inside an outer ``transaction.atomic()`` the whole
fire becomes part of it: rolled back together, and its RQ jobs enqueued only after commit.
Reads outside a unit of work are plain queries.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from django.db import IntegrityError, connections, transaction
from django.db.models import Count, F, OuterRef, Subquery
from django.utils import timezone

from ..models import InstanceLog, TaskConfigRecord, TaskInstanceRecord, TriggerSession
from ..session_index import SessionIndex
from ..types import (
    STATUS_ABANDONED,
    STATUS_REPLAYED,
    STATUS_RUNNING,
    STATUS_SCHEDULED,
    STATUS_SKIPPED,
    STATUS_UNSTARTED,
    TaskConfig,
    TaskInstance,
)
from .record_storage import RecordStorage
from .status_index import PAGE_GROUPS, StatusSummary
from .working_set import Changes, SessionState


def instances_in_flight(
    using: str | None = None, until: datetime | None = None, limit: int | None = None
) -> list[tuple[str, str, str]]:
    """``(storage, uid, name)`` of every ``scheduled`` or ``running`` instance in the database.

    Recovery reads them here as well as from the watch list in Redis, so a Redis that lost its
    data (restarted empty) cannot hide them. One query on the ``status`` index; ``until``: only
    rows last written at or before then; ``limit``: the oldest that many.
    """
    rows = TaskInstanceRecord.objects.using(using).filter(
        status__in=[STATUS_SCHEDULED, STATUS_RUNNING]
    )
    if until is not None:
        rows = rows.filter(updated__lte=until)
    entries = rows.order_by("pk").values_list("session__storage", "session__uid", "name")
    if limit is not None:
        entries = entries[:limit]
    return [(storage, uid, name) for storage, uid, name in entries]


def _instance_from_row(row: TaskInstanceRecord, logs: list[InstanceLog]) -> TaskInstance:
    metadata = dict(row.metadata)
    if row.result is not None:
        metadata["result"] = row.result
    if logs:
        metadata["logs"] = [
            {
                "level": log.level,
                "level_name": _level_name(log.level),
                "message": log.message,
                "time": log.time.isoformat(),
            }
            for log in logs
        ]
    return TaskInstance(row.name, row.task_name, row.status, dict(row.kwargs), metadata)


def _level_name(level: int) -> str:
    import logging

    return logging.getLevelName(level)


class DbSessionState(SessionState):
    #: The unstarted index is the rows' status: nothing to keep in step when an instance is saved.
    stores_unstarted_index = False

    def __init__(self, storage: DatabaseStorageBackend, session: TriggerSession | None) -> None:
        super().__init__(storage.uid)
        self.session = session
        #: name -> (row pk, number of log records, all of them resolved), for rows read here.
        self.stored_rows: dict[str, tuple[int, int, bool]] = {}

    def _rows(self):
        return TaskInstanceRecord.objects.filter(session=self.session)

    def fetch_configs(self) -> dict[str, TaskConfig]:
        if self.session is None:
            return {}
        return {
            record.name: TaskConfig.from_dict(record.name, record.directives)
            for record in TaskConfigRecord.objects.filter(session=self.session)
        }

    def fetch_metadata(self) -> dict[str, Any]:
        return dict(self.session.metadata) if self.session is not None else {}

    def fetch_counts(self) -> dict[str, int]:
        if self.session is None:
            return {}
        return {task: int(n) for task, n in self.session.counters.items()}

    def fetch_instances(self, names: list[str]) -> dict[str, TaskInstance]:
        if self.session is None or not names:
            return {}
        n_logs = (
            InstanceLog.objects.filter(instance=OuterRef("pk"))
            .order_by()
            .values("instance")
            .annotate(n=Count("pk"))
            .values("n")
        )
        rows = list(self._rows().filter(name__in=names).annotate(n_logs=Subquery(n_logs)))
        logs: dict[int, list[InstanceLog]] = {}
        with_logs = [row for row in rows if row.n_logs]
        if with_logs:  # the log records only of instances that have some
            for log in InstanceLog.objects.filter(instance__in=with_logs).order_by(
                "instance", "position"
            ):
                logs.setdefault(log.instance_id, []).append(log)
        found = {}
        for row in rows:
            found[row.name] = _instance_from_row(row, logs.get(row.pk, []))
            resolved = all(log.resolved for log in logs.get(row.pk, []))
            self.stored_rows[row.name] = (row.pk, row.n_logs or 0, resolved)
        return found

    def fetch_unstarted(self, task_name: str) -> list[str]:
        if self.session is None:
            return []
        return list(
            self._rows()
            .filter(task_name=task_name, status=STATUS_UNSTARTED)
            .order_by("number")
            .values_list("name", flat=True)
        )


class DatabaseStorageBackend(RecordStorage):
    """Sessions in the database, one row per task config, instance and log record."""

    name: ClassVar[str] = "db"

    def __init__(self, uid: str, using: str | None = None) -> None:
        super().__init__(uid)
        self.using = using

    # -- units of work: a database transaction holding the session row -----------------------
    def take_lock(self) -> Any:
        # the token: the open transaction, carrying the session row it locked as ``session``
        atomic: Any = transaction.atomic(using=self.using)
        atomic.__enter__()
        try:
            atomic.session = None
            if connections[self.using or "default"].features.has_select_for_update:
                # PostgreSQL: lock the row and read it in one statement.
                atomic.session = self._locked_row()
                if atomic.session is not None:
                    return atomic
            if not self._bump():
                try:
                    with transaction.atomic(using=self.using):
                        TriggerSession.objects.using(self.using).create(
                            uid=self.uid, storage=self.name
                        )
                except IntegrityError:
                    pass  # created meanwhile by another writer: take its lock below
                self._bump()
            if connections[self.using or "default"].features.has_select_for_update:
                atomic.session = self._locked_row()
        except BaseException as exc:
            atomic.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return atomic

    def _locked_row(self) -> TriggerSession | None:
        manager = TriggerSession.objects.using(self.using)
        return manager.select_for_update().filter(uid=self.uid).first()

    def _bump(self) -> int:
        return (
            TriggerSession.objects.using(self.using)
            .filter(uid=self.uid)
            .update(version=F("version") + 1, updated=timezone.now())
        )

    def release_lock(self, token: Any) -> None:
        token.__exit__(None, None, None)  # COMMIT (or release the savepoint)

    def abort(self, token: Any) -> None:
        error = RuntimeError("unit of work failed")
        token.__exit__(RuntimeError, error, None)  # ROLLBACK

    def delete(self) -> None:
        TriggerSession.objects.using(self.using).filter(uid=self.uid).delete()  # rows cascade

    def _session(self) -> TriggerSession | None:
        return TriggerSession.objects.using(self.using).filter(uid=self.uid).first()

    def new_state(self) -> SessionState:
        return DbSessionState(self, self._session())

    def new_locked_state(self, token: Any) -> SessionState:
        session = getattr(token, "session", None)
        return DbSessionState(self, session if session is not None else self._session())

    def commit(self, state: SessionState, changes: Changes, token: Any) -> bool:
        assert isinstance(state, DbSessionState)
        session = state.session or TriggerSession.objects.using(self.using).get(uid=self.uid)
        fields: dict[str, Any] = {}
        if changes.metadata is not None:
            fields["metadata"] = changes.metadata
        if changes.counts is not None:
            fields["counters"] = changes.counts
        fields.update(SessionIndex.count_updates(changes.status_deltas))
        if fields:
            if getattr(token, "session", None) is not None:  # locked by a read: count the write
                fields.update(version=F("version") + 1, updated=timezone.now())
            TriggerSession.objects.using(self.using).filter(pk=session.pk).update(**fields)
        if changes.configs is not None:
            self._write_configs(session, changes.configs)
        for instance in changes.instances.values():
            self._write_instance(session, instance, state.stored_rows.get(instance.name))
        return False  # the lock is the transaction: release_lock commits

    def after_commit(self, changes: Changes) -> None:
        """Nothing to do: this backend's rows are the registry, written in the same transaction."""

    # -- the status index: the rows' indexed status column --------------------------------------
    def _index_rows(self, task: str | None = None):
        rows = TaskInstanceRecord.objects.using(self.using).filter(session__uid=self.uid)
        return rows if task is None else rows.filter(task_name=task)

    def _task_counts(self) -> dict[str, dict[str, int]]:
        tasks: dict[str, dict[str, int]] = {}
        grouped = self._index_rows().values_list("task_name", "status").annotate(n=Count("pk"))
        for task, status, n in grouped.order_by():
            tasks.setdefault(task, {})[status] = n
        return tasks

    def status_summary(self) -> StatusSummary:
        """Counts by one grouped query on the (session, task, status) index; the logs flag by
        checking a few of the rows whose error logs nobody resolved (the instance decides)."""
        summary = StatusSummary(tasks=self._task_counts())
        candidates = (
            self._index_rows()
            .filter(
                log_records__resolved=False,
                log_records__level__gte=TaskInstance.LOG_LEVEL_THRESHOLD,
            )
            .exclude(status__in=[STATUS_REPLAYED, STATUS_SKIPPED, STATUS_ABANDONED])
            .values_list("name", flat=True)
            .distinct()[:5]
        )
        snapshot = self.snapshot()
        for name in candidates:  # the first usually decides: read one at a time
            if any(inst.has_unresolved_logs for inst in snapshot.instances([name])):
                summary.unresolved_logs = True
                break
        return summary

    def instances_page(
        self, offset: int, limit: int, task: str | None = None
    ) -> list[TaskInstance]:
        """One query per status group the page spans (most pages: one), on the status index."""
        if limit <= 0:
            return []
        names: list[str] = []
        task_counts = self._task_counts()
        for group in PAGE_GROUPS:  # skip the groups before the offset, and empty ones, unread
            in_group = sum(
                per_status.get(status, 0)
                for name, per_status in task_counts.items()
                if task is None or name == task
                for status in group
            )
            if offset >= in_group:
                offset -= in_group
                continue
            rows = self._index_rows(task).filter(status__in=group).order_by("created", "name")
            names += rows.values_list("name", flat=True)[offset : offset + limit - len(names)]
            offset = 0
            if len(names) >= limit:
                break
        snapshot = self.snapshot()
        return self._configured(snapshot, snapshot.instances(names))

    def _write_configs(self, session: TriggerSession, configs: dict[str, TaskConfig]) -> None:
        records = TaskConfigRecord.objects.using(self.using).filter(session=session)
        records.exclude(name__in=list(configs)).delete()
        for name, config in configs.items():
            records.update_or_create(
                session=session, name=name, defaults={"directives": config.to_dict()}
            )

    def _write_instance(
        self,
        session: TriggerSession,
        instance: TaskInstance,
        stored: tuple[int, int, bool] | None = None,
    ) -> None:
        """One ``UPDATE`` of a row read in this unit of work (or one ``INSERT`` of a new one);
        its log records are touched only when they changed."""
        metadata = {k: v for k, v in instance.metadata.items() if k not in ("logs", "result")}
        values = {
            "task_name": instance.task_name,
            "number": instance.number,
            "status": instance.status,
            "kwargs": instance.kwargs,
            "result": instance.metadata.get("result"),
            "metadata": metadata,
            "rq_job_id": instance.metadata.get("rq_job_id", ""),
            "depth": instance.depth,
            "parent": instance.parent or "",
        }
        rows = TaskInstanceRecord.objects.using(self.using)
        if stored is not None:
            pk, have, was_resolved = stored
            rows.filter(pk=pk).update(**values, updated=timezone.now())
        else:  # new (the task's counter named it): one INSERT
            pk, have, was_resolved = (
                rows.create(session=session, name=instance.name, **values).pk,
                0,
                True,
            )
        logs = instance.metadata.get("logs", [])
        resolved = bool(instance.metadata.get("logs_resolved", False))
        if have == len(logs) and (not logs or was_resolved == resolved):
            return
        stored_logs = InstanceLog.objects.using(self.using).filter(instance_id=pk)
        InstanceLog.objects.using(self.using).bulk_create(
            InstanceLog(
                instance_id=pk,
                position=position,
                level=int(record["level"]),
                message=str(record["message"]),
                time=datetime.fromisoformat(record["time"]),
                resolved=resolved,
            )
            for position, record in enumerate(logs)
            if position >= have
        )
        if have and was_resolved != resolved:
            stored_logs.exclude(resolved=resolved).update(resolved=resolved)
