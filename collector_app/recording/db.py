"""The ``db`` recorder: runs, push items and attachments as rows, browsable in the admin.

A recording run is one ``RecordingRun`` row whose ``label`` is the run id, created at the
first write (so processes that join a run by id share the row). Writers of one run take
turns on that row (``SELECT ... FOR UPDATE``; on SQLite the write transaction itself), so
positions stay unique and a batch's items keep consecutive positions. A batch is written in
one transaction: all of it or, on any error, none of it.
"""

from __future__ import annotations

import threading
from typing import Any

from django.db import connections, router, transaction
from django.db.models import Max

from .base import RecorderBackend
from .batch import PushItemBatch
from .runs import Run, active_run, standalone_run

#: Rows per INSERT when a batch is written.
INSERT_BATCH = 1000
#: Longest SQL text kept in Django's debug query log for one of this recorder's writes.
LOGGED_SQL_CHARS = 500


def shorten_logged_sql(alias: str) -> None:
    """With ``DEBUG`` on, Django keeps the text of the last 9,000 queries; a bulk insert of a
    thousand push items (or a file's content) is hundreds of kilobytes of it, so memory would
    grow with the batch. Keep a short head of each such query instead (the log stays useful)."""
    connection = connections[alias]
    if not connection.queries_logged:
        return
    log = connection.queries_log
    for index in range(len(log) - 1, max(-1, len(log) - 50), -1):
        entry = log[index]
        sql = entry.get("sql") or ""
        if len(sql) > LOGGED_SQL_CHARS and "collector_app_" in sql[:200]:
            log[index] = {
                **entry,
                "sql": f"{sql[:LOGGED_SQL_CHARS]}... [{len(sql):,} characters, shortened]",
            }


#: ``AttachmentRecord.filename``'s length.
MAX_FILENAME = 1000
NULLABLE_COLUMNS = ("src", "dest", "origin", "build", "signing_key")

_rows_lock = threading.Lock()
_run_rows: dict[tuple[str, str], int] = {}  # (database alias, run id) -> RecordingRun pk


class DatabaseCollector(RecorderBackend):
    """Records into the ``RecordingRun`` row of the current run (see the module docstring)."""

    name = "db"

    def __init__(self, run: Run | None = None, using: str | None = None) -> None:
        self.run = run or active_run() or standalone_run()
        self._using = using

    def __repr__(self) -> str:
        return f"<DatabaseCollector run {self.run.id}>"

    @property
    def using(self) -> str:
        from ..models import RecordingRun

        return self._using or router.db_for_write(RecordingRun)

    # -- the run row --

    def _locked_run(self, alias: str) -> int:
        """The run's row, created if needed and locked until the transaction ends."""
        from ..models import RecordingRun

        runs = RecordingRun.objects.using(alias)
        key = (alias, self.run.id)
        with _rows_lock:
            pk = _run_rows.get(key)
        if pk is not None and list(runs.select_for_update().filter(pk=pk).values_list("pk")):
            return pk
        if connections[alias].vendor == "postgresql":  # two processes creating the same run
            with connections[alias].cursor() as cursor:
                cursor.execute(
                    "SELECT pg_advisory_xact_lock(hashtext(%s))", [f"recording:{self.run.id}"]
                )
        row = runs.select_for_update().filter(label=self.run.id).order_by("pk").first()
        if row is None:
            from triggers.execution import current_task

            session_uid, instance = current_task() or ("", "")
            row = runs.create(
                started=self.run.started,
                label=self.run.id,
                session_uid=session_uid,
                instance=instance,
            )
        with _rows_lock:
            _run_rows[key] = row.pk
        return row.pk

    def recording_run(self) -> Any:
        """The run's ``RecordingRun`` row, or ``None`` before anything was recorded."""
        from ..models import RecordingRun

        return (
            RecordingRun.objects.using(self.using).filter(label=self.run.id).order_by("pk").first()
        )

    # -- writing --

    def write_push_items(self, batch: PushItemBatch) -> None:
        from ..models import PushItemRecord

        if not batch.count:
            return
        alias = self.using
        records = PushItemRecord.objects.using(alias)
        with transaction.atomic(using=alias):
            run_pk = self._locked_run(alias)
            last = records.filter(run_id=run_pk).aggregate(last=Max("position"))["last"]
            position = 0 if last is None else last + 1
            rows = []
            for item in batch.items():
                values = {key: item.get(key) or "" for key in NULLABLE_COLUMNS}
                rows.append(
                    PushItemRecord(
                        run_id=run_pk,
                        position=position,
                        filename=item["filename"],
                        state=item["state"],
                        checksums=item.get("checksums"),
                        item=item,
                        **values,
                    )
                )
                position += 1
                if len(rows) >= INSERT_BATCH:
                    records.bulk_create(rows)
                    shorten_logged_sql(alias)
                    rows = []
            records.bulk_create(rows)
            shorten_logged_sql(alias)

    def _check_length(self, filename: str) -> None:
        if len(filename) > MAX_FILENAME:
            raise ValueError(
                f"file name {filename[:40]!r}... is {len(filename)} characters long; "
                f"the db recorder keeps at most {MAX_FILENAME}"
            )

    def attach_file(self, filename: str, content: bytes) -> None:
        from ..models import AttachmentRecord

        self._check_length(filename)
        alias = self.using
        with transaction.atomic(using=alias):
            run_pk = self._locked_run(alias)
            AttachmentRecord.objects.using(alias).update_or_create(
                run_id=run_pk,
                filename=filename,
                defaults={"content": content, "size": len(content)},
            )
        shorten_logged_sql(alias)

    def append_file(self, filename: str, content: bytes) -> None:
        from ..models import AttachmentRecord

        self._check_length(filename)
        alias = self.using
        with transaction.atomic(using=alias):
            run_pk = self._locked_run(alias)
            files = AttachmentRecord.objects.using(alias)
            row = files.filter(run_id=run_pk, filename=filename).first()
            if row is None:
                files.create(run_id=run_pk, filename=filename, content=content, size=len(content))
                shorten_logged_sql(alias)
                return
            row.content = bytes(row.content) + content
            row.size = len(row.content)
            row.save(using=alias, update_fields=["content", "size", "updated"])
        shorten_logged_sql(alias)

    # -- reading back --

    def read_push_items(self) -> list[dict[str, Any]]:
        """Every push item recorded in the run, in position order."""
        run = self.recording_run()
        if run is None:
            return []
        items = run.push_items.using(self.using).order_by("position")
        return list(items.values_list("item", flat=True))

    def read_file(self, filename: str) -> bytes | None:
        run = self.recording_run()
        row = run and run.attachments.using(self.using).filter(filename=filename).first()
        return bytes(row.content) if row else None
