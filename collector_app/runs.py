"""Named pipelines (``COLLECTORS["PIPELINES"]``) run and recorded, from jobs, tasks and code."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from .conf import collectors_setting
from .exceptions import CollectorsError
from .pipeline import Journal, Pipeline


class UnknownPipelineError(LookupError, CollectorsError):
    def __init__(self, name: str) -> None:
        known = ", ".join(sorted(collectors_setting("PIPELINES"))) or "none"
        super().__init__(f"no pipeline named {name!r} in COLLECTORS['PIPELINES'] (known: {known})")


def named_pipeline(name: str) -> Pipeline:
    """The pipeline configured under ``name`` (a file path or a definition dict)."""
    pipelines = collectors_setting("PIPELINES")
    if name not in pipelines:
        raise UnknownPipelineError(name)
    return Pipeline(pipelines[name], name)


def start_run(pipeline: str, session_uid: str = "", instance: str = "") -> Any:
    """A ``running`` row in the run history, so a run whose process is killed stays visible
    (and ``collector_app.recovery`` marks it failed once its lease expires)."""
    from django.utils import timezone

    from .models import PipelineRun
    from .recovery import RUNNING

    return PipelineRun.objects.create(
        pipeline=pipeline,
        status=RUNNING,
        started=timezone.now(),
        duration=0.0,
        session_uid=session_uid,
        instance=instance,
    )


def record(journal: Journal, session_uid: str = "", instance: str = "", run: Any = None) -> Any:
    """Store a journal in the run history (``PipelineRun``): as a new row, or as the outcome of
    ``run`` (a row from ``start_run``)."""
    from .models import PipelineRun

    fields = {
        "pipeline": journal.pipeline,
        "status": journal.status,
        "started": datetime.fromisoformat(journal.start),
        "duration": journal.duration,
        "error": journal.error or "",
        "journal": journal.to_dict(),
        "session_uid": session_uid,
        "instance": instance,
    }
    if run is None:
        return PipelineRun.objects.create(**fields)
    for name, value in fields.items():
        setattr(run, name, value)
    run.save(update_fields=list(fields))
    return run


def run_named(name: str, context: Any = None, **record_kwargs: Any) -> Journal:
    """Run pipeline ``name`` holding its collector lock, so two runs never interleave.

    A second run waits or refuses (``CollectorBusyError``) as ``COLLECTORS["STATE_LOCK"]`` says.
    What its sinks record (the ``archive`` sink) goes into a recording run of its own, even in
    a process that runs one job after another. Its row in the run history says ``running``
    from the start, and the run holds a lease (``collector_app.recovery``) until it ends.
    """
    from .pushcollector import Collector
    from .recovery import FAILED, PIPELINE, run_lease
    from .state import collector_lock

    pipeline = named_pipeline(name)
    with collector_lock(name), Collector.new_run():
        run = start_run(name, **record_kwargs)
        try:
            with run_lease(PIPELINE, run.pk):
                journal = pipeline.run(context=context)
        except BaseException as exc:  # the run never produced a journal: say why
            run.status, run.error = FAILED, f"{type(exc).__name__}: {exc}"
            run.save(update_fields=["status", "error"])
            raise
    record(journal, run=run, **record_kwargs)
    return journal
