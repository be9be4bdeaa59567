"""Pipelines as trigger tasks: ``run: "pipeline:<name>"``, an instance of a trigger session.

Not to be confused with ``collector_app.jobs``: *RQ jobs* put on a queue directly, outside any
session. Both call ``collector_app.run``.

The older spelling ``collector_app.pipeline:<name>`` (it reads like a dotted path, which it is
not) is accepted too, so stored configurations keep running.

The task's trigger kwargs reach the components (``self.context.trigger_kwargs``); the run's
data (source id -> data, after the aggregators) is the task's result, so the task fired after
it receives the data; a definition's ``result = [ids]`` keeps only those ids. A failed run
fails the instance (replay it once fixed).
"""

from __future__ import annotations

from typing import Any

from triggers.task import TaskContext, register_task_prefix

from .pipelines.runner import run
from .runs import named_pipeline

PREFIX = "pipeline:"
#: The prefix configurations written before ``pipeline:`` use; still resolved.
LEGACY_PREFIX = "collector_app.pipeline:"


class PipelineTask:
    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, context: TaskContext) -> dict[str, Any]:
        # the context's session and instance go into the run history row
        result = run(named_pipeline(self.name), context=context)
        for entry in result.entries:
            if entry.status != "passed":
                context.logger.warning("%s %s: %s", entry.id, entry.status, entry.error)
        if not result.passed:
            raise RuntimeError(f"pipeline {self.name!r} failed: {result.error}")
        return result.result()


def pipeline_task(name: str) -> PipelineTask:
    """The task for pipeline ``name``; checks the name and the definition on the way."""
    named_pipeline(name)  # UnknownPipelineError is a LookupError; definition errors raise here
    return PipelineTask(name)


def register_pipeline_tasks() -> None:
    """Make ``pipeline:<name>`` (and the older ``collector_app.pipeline:<name>``) resolvable
    (called from ``AppConfig.ready``)."""
    register_task_prefix(PREFIX, pipeline_task)
    register_task_prefix(LEGACY_PREFIX, pipeline_task)
