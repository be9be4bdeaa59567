"""``run()``: the one way every entry point runs a collector, with the same guarantees.

The ``collect`` and ``run_collector`` commands, the RQ job (``collector_app.jobs``), the
``pipeline:<name>`` trigger task, schedule slots and the admin's "run now" all
call it, so a run from any of them holds the collector's lock (two runs never interleave),
records into a recording run of its own (``Collector.new_run()``), writes its ``running`` row in
the run history at the start, holds a lease while it runs (``collector_app.recovery`` fails it
if the process dies) and stores its journal at the end. Each of these can be turned off by a
caller that has a reason (``collect --test`` records nothing).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..definition import PipelineDefinition
from ..pipeline import PASSED, Journal, JournalEntry, Listener, Pipeline
from .configured import (
    CLASS,
    ENTRY_KEYS,
    PIPELINE,
    CollectorConfigError,
    ConfiguredCollector,
    UnknownCollectorError,
    build_class_collector,
    configured_collector,
    configured_collectors,
)

__all__ = [
    "CLASS",
    "ENTRY_KEYS",
    "PIPELINE",
    "CollectorConfigError",
    "ConfiguredCollector",
    "RunOutcome",
    "RunResult",
    "UnknownCollectorError",
    "build_class_collector",
    "configured_collector",
    "configured_collectors",
    "resolve",
    "run",
    "run_configured",
]

FAILED = "failed"

#: What ``run()`` accepts: a configured name (or a pipeline file's path), a definition, a
#: ``Pipeline`` already built.
Target = str | Path | Mapping[str, Any] | PipelineDefinition | Pipeline


@dataclass
class RunResult:
    """How one run went: what every caller of ``run()`` gets (``Journal`` stays the pipeline's
    own record; ``RunResult`` adds the class collectors and the run history row)."""

    name: str
    kind: str
    passed: bool
    duration: float = 0.0
    error: str = ""
    traceback: str = ""
    #: The pipeline's journal (pipelines only).
    journal: Journal | None = None
    #: The run history row (``PipelineRun``) when the run was recorded.
    run_id: int | None = None

    @property
    def status(self) -> str:
        return PASSED if self.passed else FAILED

    @property
    def entries(self) -> list[JournalEntry]:
        """The journal's entries (none for a class collector)."""
        return self.journal.entries if self.journal is not None else []

    @property
    def data(self) -> dict[str, Any]:
        return dict(self.journal.data) if self.journal is not None else {}

    def result(self) -> dict[str, Any]:
        """What a trigger task returns: the data, or the ids the definition's ``result`` names."""
        return self.journal.result() if self.journal is not None else {}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready, without the data (the journal's own ``to_dict()`` shape for pipelines)."""
        return {
            "name": self.name,
            "kind": self.kind,
            "status": self.status,
            "duration": self.duration,
            "error": self.error,
            "run_id": self.run_id,
            "journal": self.journal.to_dict() if self.journal is not None else None,
        }


#: The old name of ``RunResult`` (same fields, same order).
RunOutcome = RunResult


def resolve(target: Target) -> Pipeline | ConfiguredCollector:
    """The pipeline or class collector ``target`` names; bad input raises one clear error.

    A name in the settings wins over a file of that name (a job's name is never hijacked by a
    file in the worker's directory); an unknown name raises ``UnknownCollectorError``.
    """
    from ..runs import named_pipeline

    if isinstance(target, Pipeline):
        return target
    if isinstance(target, str):
        collectors = configured_collectors()
        if target in collectors:
            found = collectors[target]
            return named_pipeline(target) if found.kind == PIPELINE else found
        if not Path(target).is_file():
            raise UnknownCollectorError(target)
    return Pipeline(target)


def run(
    name_or_definition: Target,
    *,
    context: Any = None,
    lock: bool = True,
    record: bool = True,
    distribute: bool = True,
    listener: Listener | None = None,
) -> RunResult:
    """Run a collector once and say how it went.

    ``lock``: hold the collector's lock (``STATE_LOCK`` says whether a second run waits or
    gets ``CollectorBusyError``); ``record``: write the run history row (pipelines);
    ``distribute=False``: sources and aggregators only, no sinks; ``listener`` sees each
    journal entry start and end; ``context`` reaches every component (a trigger task's, whose
    session and instance go into the row). A failing run is a result; a bad name or
    definition, or a busy collector, raises.
    """
    target = resolve(name_or_definition)
    name = target.name
    with _locked(name, lock), _recording_run():
        if isinstance(target, Pipeline):
            return _run_pipeline(target, context, record, distribute, listener)
        if not distribute:
            raise ValueError(f"collector {name!r} is a class collector: it always distributes")
        return _run_class(target)


def run_configured(
    name: str, *, mode: str | None = None, timeout: float | None = None
) -> RunResult:
    """``run(name)`` under a lock taken with ``mode`` and ``timeout`` (not the settings').

    Raises ``UnknownCollectorError`` / ``CollectorConfigError`` for a bad name or entry and
    ``CollectorBusyError`` when another run holds the lock; a failing run is a result.
    """
    from ..leases import collector_lock

    configured_collector(name)  # an unknown name fails before the lock is taken
    with collector_lock(name, mode, timeout):
        return run(name)  # re-enters the lock this thread holds


def _locked(name: str, lock: bool) -> Any:
    from ..leases import collector_lock

    return collector_lock(name) if lock else nullcontext()


@contextmanager
def _recording_run() -> Iterator[None]:
    """What the run records (the ``archive`` sink, a class collector's recorder) goes into a
    recording run of its own, even in a process that runs one job after another."""
    from ..recording import Collector

    with Collector.new_run():
        yield


def _run_pipeline(
    pipeline: Pipeline,
    context: Any,
    record: bool,
    distribute: bool,
    listener: Listener | None,
    session_uid: str | None = None,
    instance: str | None = None,
) -> RunResult:
    from ..recovery import FAILED as ROW_FAILED
    from ..recovery import PIPELINE as LEASE_KIND
    from ..recovery import run_lease
    from ..runs import record as record_journal
    from ..runs import start_run

    where = {
        "session_uid": getattr(context, "session_uid", "") if session_uid is None else session_uid,
        "instance": getattr(context, "instance_name", "") if instance is None else instance,
    }
    row = start_run(pipeline.name, **where) if record else None
    try:
        with run_lease(LEASE_KIND, row.pk) if row is not None else nullcontext():
            journal = pipeline.run(context=context, distribute=distribute, listener=listener)
    except BaseException as exc:  # the run never produced a journal: say why
        if row is not None:
            row.status, row.error = ROW_FAILED, pipeline.masker.text(f"{type(exc).__name__}: {exc}")
            row.save(update_fields=["status", "error"])
        raise
    if row is not None:
        record_journal(journal, run=row, **where)
    return RunResult(
        pipeline.name,
        PIPELINE,
        journal.passed,
        duration=journal.duration,
        error=journal.error or "",
        journal=journal,
        run_id=row.pk if row is not None else None,
    )


def _run_class(collector: ConfiguredCollector) -> RunResult:
    started = time.monotonic()
    try:
        build_class_collector(collector).run()
    except Exception as exc:
        return RunResult(
            collector.name,
            CLASS,
            passed=False,
            duration=round(time.monotonic() - started, 6),
            error=f"{type(exc).__name__}: {exc}",
            traceback=traceback.format_exc(),
        )
    return RunResult(collector.name, CLASS, True, duration=round(time.monotonic() - started, 6))
