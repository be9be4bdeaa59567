"""Run one task instance: claim it, call its task, hand the outcome back to the manager.

Runners call ``execute_instance``; it is safe to call twice for the same instance (the second
call finds it no longer ``scheduled`` and does nothing).
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Mapping
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from .outcomes import Failed, Finished, Outcome, Retry, Skipped
from .storable import check_storable
from .task import InstanceLogger, RetryTask, SkipTask, TaskContext, max_retries_of, resolve_task
from .types import TaskInstance, deep_merge

if TYPE_CHECKING:
    from .manager import TriggerManager
    from .types import TaskConfig

DEFAULT_MAX_RETRIES = 3

_current_task: ContextVar[tuple[str, str] | None] = ContextVar("triggers_task", default=None)


def current_task() -> tuple[str, str] | None:
    """``(session uid, instance name)`` of the trigger task running in this context, if any.

    Lets other apps tie what a task produces (a gather run, a recording) to the instance that
    produced it without being handed it; threads started with ``contextvars.copy_context()``
    see it too.
    """
    return _current_task.get()


def execute_instance(
    manager: TriggerManager,
    instance_name: str,
    on_claim: Callable[[TaskInstance], None] | None = None,
    claim: Callable[[], tuple[TaskInstance, TaskConfig] | None] | None = None,
) -> TaskInstance | None:
    """Run ``instance_name`` if it is ``scheduled``; return it as it ended (or ``None``).

    ``on_claim`` is called once the instance is ``running`` and before its task starts.
    ``claim`` replaces ``manager.start_instance(instance_name)`` (the ``rq`` job's claim
    script, which falls back to it).
    """
    claimed = claim() if claim is not None else manager.start_instance(instance_name)
    if claimed is None:
        return None
    instance, config = claimed
    if on_claim is not None:
        on_claim(instance)
    log = InstanceLogger(config.name, instance_name)
    context = TaskContext(
        trigger_kwargs=deep_merge(config.with_params, instance.kwargs),
        instance_name=instance_name,
        task_name=config.name,
        session_uid=manager.session_uid,
        manager=manager,
        logger=log,
        depth=instance.depth,
        extras=dict(config.extras),
    )
    started = time.monotonic()
    token = _current_task.set((manager.session_uid, instance_name))
    try:
        outcome = _run(config.run, context, log)
    finally:
        _current_task.reset(token)
    duration = round(time.monotonic() - started, 6)
    return manager.complete_instance(instance_name, outcome, log.records, duration)


def _run(run: str, context: TaskContext, log: InstanceLogger) -> Outcome:
    """Call the task and turn how it ended into an outcome that every storage can keep."""
    try:
        try:
            return Finished(_checked_result(context.task_name, resolve_task(run)(context)))
        except SkipTask as skip:
            result = _checked_result(context.task_name, skip.result, "skip result")
            reason = _checked_text(context.task_name, skip.reason, "skip reason")
            metadata = _checked_result(context.task_name, skip.metadata, "skip metadata")
            return Skipped(reason, bool(skip.cascade), result, metadata)
    except RetryTask as retry:
        limit = retry.max_retries
        if limit is None:
            limit = max_retries_of(run)
        return Retry(
            _checked_text(context.task_name, retry.reason, "retry reason"),
            retry.replacement_kwargs,
            retry.cooldown,
            DEFAULT_MAX_RETRIES if limit is None else limit,
            _checked_result(context.task_name, retry.metadata, "retry metadata"),
        )
    except Exception as exc:
        log.error("%s: %s", type(exc).__name__, exc)
        return Failed(
            type(exc).__name__,
            str(exc),
            traceback.format_exc(),
            f"{type(exc).__module__}.{type(exc).__qualname__}",
        )


def _checked_result(task_name: str, result: Any, what: str = "result") -> dict[str, Any]:
    if result is None:
        return {}
    if not isinstance(result, Mapping):
        raise TypeError(
            f"task {task_name!r} returned a {type(result).__name__}; a task returns a mapping "
            f"(the kwargs of the trigger its completion fires) or None"
        )
    check_storable(result, f"task {task_name!r} returned a {what}", TypeError)
    return dict(result)


def _checked_text(task_name: str, text: Any, what: str) -> str:
    text = "" if text is None else str(text)
    check_storable(text, f"task {task_name!r} gave a {what}", TypeError)
    return text
