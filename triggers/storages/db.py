"""The ``db`` storage backend: sessions as rows of the ``triggers`` models.

A unit of work is a database transaction that starts by bumping the session row's ``version``:
on PostgreSQL that takes the row's lock, on SQLite the database's write lock, so concurrent
writers on one session queue up in the database and a lock can never expire under a writer
that stalled (the lock is the transaction). Inside an outer ``transaction.atomic()`` the whole
fire becomes part of it: rolled back together, and its RQ jobs enqueued only after commit.
Reads outside a unit of work are plain queries.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any, ClassVar

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from ..models import InstanceLog, TaskConfigRecord, TaskInstanceRecord, TriggerSession
from ..registry import count_field
from ..types import STATUS_RUNNING, STATUS_SCHEDULED, STATUS_UNSTARTED, TaskConfig, TaskInstance
from .records import RecordStorage
from .state import Changes, SessionState


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
    rows = rows.order_by("pk").values_list("session__storage", "session__uid", "name")
    if limit is not None:
        rows = rows[:limit]
    return [(storage, uid, name) for storage, uid, name in rows]


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
    def __init__(self, storage: DatabaseStorageBackend, session: TriggerSession | None) -> None:
        super().__init__(storage.uid)
        self.session = session

    def _rows(self):
        return TaskInstanceRecord.objects.filter(session=self.session)

    def _fetch_configs(self) -> dict[str, TaskConfig]:
        if self.session is None:
            return {}
        return {
            record.name: TaskConfig.from_dict(record.name, record.directives)
            for record in TaskConfigRecord.objects.filter(session=self.session)
        }

    def _fetch_metadata(self) -> dict[str, Any]:
        return dict(self.session.metadata) if self.session is not None else {}

    def _fetch_counts(self) -> dict[str, int]:
        if self.session is None:
            return {}
        return {task: int(n) for task, n in self.session.counters.items()}

    def _fetch_instances(self, names: list[str]) -> dict[str, TaskInstance]:
        if self.session is None or not names:
            return {}
        rows = list(self._rows().filter(name__in=names))
        logs: dict[int, list[InstanceLog]] = {}
        for log in InstanceLog.objects.filter(instance__in=rows).order_by("instance", "position"):
            logs.setdefault(log.instance_id, []).append(log)
        return {row.name: _instance_from_row(row, logs.get(row.pk, [])) for row in rows}

    def _fetch_unstarted(self, task_name: str) -> list[str]:
        if self.session is None:
            return []
        return list(
            self._rows()
            .filter(task_name=task_name, status=STATUS_UNSTARTED)
            .order_by("number")
            .values_list("name", flat=True)
        )

    def prefetch(
        self,
        names: Iterable[str] = (),
        configs: bool = False,
        metadata: bool = False,
        counts: bool = False,
        unstarted: Iterable[str] = (),
    ) -> None:
        if configs:
            self.configs  # noqa: B018
        for task_name in unstarted:
            self.unstarted_names(task_name)
        self.instances(names)  # the session row (metadata, counts) is already loaded


class DatabaseStorageBackend(RecordStorage):
    """Sessions in the database, one row per task config, instance and log record."""

    name: ClassVar[str] = "db"

    def __init__(self, uid: str, using: str | None = None) -> None:
        super().__init__(uid)
        self.using = using

    # -- units of work: a database transaction holding the session row -----------------------
    def _acquire_lock(self) -> Any:
        atomic = transaction.atomic(using=self.using)
        atomic.__enter__()
        try:
            if not self._bump():
                try:
                    with transaction.atomic(using=self.using):
                        TriggerSession.objects.using(self.using).create(
                            uid=self.uid, storage=self.name
                        )
                except IntegrityError:
                    pass  # created meanwhile by another writer: take its lock below
                self._bump()
        except BaseException as exc:
            atomic.__exit__(type(exc), exc, exc.__traceback__)
            raise
        return atomic

    def _bump(self) -> int:
        return (
            TriggerSession.objects.using(self.using)
            .filter(uid=self.uid)
            .update(version=F("version") + 1, updated=timezone.now())
        )

    def _release_lock(self, token: Any) -> None:
        token.__exit__(None, None, None)  # COMMIT (or release the savepoint)

    def _abort(self, token: Any) -> None:
        error = RuntimeError("unit of work failed")
        token.__exit__(RuntimeError, error, None)  # ROLLBACK

    def delete(self) -> None:
        TriggerSession.objects.using(self.using).filter(uid=self.uid).delete()  # rows cascade

    def _session(self) -> TriggerSession | None:
        return TriggerSession.objects.using(self.using).filter(uid=self.uid).first()

    def _new_state(self) -> SessionState:
        return DbSessionState(self, self._session())

    def _commit(self, state: SessionState, changes: Changes, token: Any) -> bool:
        assert isinstance(state, DbSessionState)
        session = state.session or TriggerSession.objects.using(self.using).get(uid=self.uid)
        fields: dict[str, Any] = {}
        if changes.metadata is not None:
            fields["metadata"] = changes.metadata
        if changes.counts is not None:
            fields["counters"] = changes.counts
        for status, delta in changes.status_deltas.items():
            fields[count_field(status)] = F(count_field(status)) + delta
        if fields:
            TriggerSession.objects.using(self.using).filter(pk=session.pk).update(**fields)
        if changes.configs is not None:
            self._write_configs(session, changes.configs)
        for instance in changes.instances.values():
            self._write_instance(session, instance)
        return False  # the lock is the transaction: _release_lock commits

    def _after_commit(self, changes: Changes) -> None:
        """Nothing to do: this backend's rows are the registry, written in the same transaction."""

    def _write_configs(self, session: TriggerSession, configs: dict[str, TaskConfig]) -> None:
        records = TaskConfigRecord.objects.using(self.using).filter(session=session)
        records.exclude(name__in=list(configs)).delete()
        for name, config in configs.items():
            records.update_or_create(
                session=session, name=name, defaults={"directives": config.to_dict()}
            )

    def _write_instance(self, session: TriggerSession, instance: TaskInstance) -> None:
        metadata = {k: v for k, v in instance.metadata.items() if k not in ("logs", "result")}
        row, _ = TaskInstanceRecord.objects.using(self.using).update_or_create(
            session=session,
            name=instance.name,
            defaults={
                "task_name": instance.task_name,
                "number": instance.number,
                "status": instance.status,
                "kwargs": instance.kwargs,
                "result": instance.metadata.get("result"),
                "metadata": metadata,
                "rq_job_id": instance.metadata.get("rq_job_id", ""),
                "depth": instance.depth,
                "parent": instance.parent or "",
            },
        )
        logs = instance.metadata.get("logs", [])
        stored = InstanceLog.objects.using(self.using).filter(instance=row)
        have = stored.count()
        InstanceLog.objects.using(self.using).bulk_create(
            InstanceLog(
                instance=row,
                position=position,
                level=int(record["level"]),
                message=str(record["message"]),
                time=datetime.fromisoformat(record["time"]),
            )
            for position, record in enumerate(logs)
            if position >= have
        )
        resolved = bool(instance.metadata.get("logs_resolved", False))
        stored.exclude(resolved=resolved).update(resolved=resolved)
