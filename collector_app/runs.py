"""Named pipelines (``COLLECTORS["PIPELINES"]``) run and recorded, from jobs, tasks and code."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .conf import collectors_setting
from .pipeline import Journal, Pipeline


class UnknownPipelineError(LookupError):
    def __init__(self, name: str) -> None:
        known = ", ".join(sorted(collectors_setting("PIPELINES"))) or "none"
        super().__init__(f"no pipeline named {name!r} in COLLECTORS['PIPELINES'] (known: {known})")


def named_pipeline(name: str) -> Pipeline:
    """The pipeline configured under ``name`` (a file path or a definition dict)."""
    pipelines = collectors_setting("PIPELINES")
    if name not in pipelines:
        raise UnknownPipelineError(name)
    return Pipeline(pipelines[name], name)


def record(journal: Journal, session_uid: str = "", instance: str = "") -> Any:
    """Store a journal in the run history (``PipelineRun``)."""
    from .models import PipelineRun

    return PipelineRun.objects.create(
        pipeline=journal.pipeline,
        status=journal.status,
        started=datetime.fromisoformat(journal.start),
        duration=journal.duration,
        error=journal.error or "",
        journal=journal.to_dict(),
        session_uid=session_uid,
        instance=instance,
    )


def run_named(name: str, context: Any = None, **record_kwargs: Any) -> Journal:
    """Run pipeline ``name`` holding its collector lock, so two runs never interleave.

    A second run waits or refuses (``CollectorBusyError``) as ``COLLECTORS["STATE_LOCK"]`` says.
    What its sinks record (the ``archive`` sink) goes into a recording run of its own, even in
    a process that runs one job after another.
    """
    from .pushcollector import Collector
    from .state import collector_lock

    pipeline = named_pipeline(name)
    with collector_lock(name), Collector.new_run():
        journal = pipeline.run(context=context)
    record(journal, **record_kwargs)
    return journal
