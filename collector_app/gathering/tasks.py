"""Gathering as a trigger task: ``run: "gather:<collection>"`` (or the older spelling,
``collector_app.gather:<collection>``, still accepted); the RQ job outside a session is
``collector_app.gathering.jobs``.

``withParams`` (or the firing's kwargs) may give ``since``, ``until``, ``dry_run`` and ``dest``
at the top level. The result (as ``GatherResult.to_dict()``) is fired onwards. A failed or
partial gather fails the instance (replay it once fixed); a gather refused because the
collection is being gathered already is retried after the gatherer's ``retry_cooldown``.
"""

from __future__ import annotations

from typing import Any

from triggers.task import TaskContext, register_task_prefix

from .engine import gather
from .gatherer import gatherer_for
from .results import FAILED, PARTIAL, REFUSED

PREFIX = "gather:"
#: The prefix configurations written before ``gather:`` use; still resolved.
LEGACY_PREFIX = "collector_app.gather:"


class GatherTask:
    def __init__(self, name: str) -> None:
        self.name = name

    def __call__(self, context: TaskContext) -> dict[str, Any]:
        params = context.trigger_kwargs
        gatherer = gatherer_for(self.name)
        result = gather(
            gatherer,
            since=params.get("since"),
            until=params.get("until"),
            dry_run=bool(params.get("dry_run", False)),
            dest=params.get("dest"),
            collection_type="scheduled",
        )
        for error in result.errors:
            context.logger.warning("%s", error)
        if result.status == REFUSED:
            context.retry(result.errors[0], cooldown=float(gatherer.retry_cooldown))
        if result.status in (FAILED, PARTIAL):
            raise RuntimeError(f"gather {self.name!r} {result.status}: {'; '.join(result.errors)}")
        return result.to_dict()


def gather_task(name: str) -> GatherTask:
    """The task for collection ``name``; an unknown name is a ``LookupError``."""
    gatherer_for(name)
    return GatherTask(name)


def register_gather_tasks() -> None:
    """Make ``gather:<name>`` (and the older ``collector_app.gather:<name>``) resolvable
    (called from ``AppConfig.ready``)."""
    register_task_prefix(PREFIX, gather_task)
    register_task_prefix(LEGACY_PREFIX, gather_task)
