"""Named pipelines (``COLLECTORS["PIPELINES"]``) and the run history (``PipelineRun`` rows).

Running one is ``collector_app.run`` (``collector_app.pipelines.runner``)."""

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
    """Run pipeline ``name`` and return its journal: ``collector_app.run(name)`` for callers
    that want the ``Journal`` (kept for them; new code calls ``collector_app.run``).

    ``session_uid`` and ``instance`` go into the run history row (by default: the trigger
    task ``context``'s).
    """
    from .pipelines.runner import _locked, _recording_run, _run_pipeline

    pipeline = named_pipeline(name)
    with _locked(name, True), _recording_run():
        outcome = _run_pipeline(pipeline, context, True, True, None, **record_kwargs)
    assert outcome.journal is not None
    return outcome.journal
