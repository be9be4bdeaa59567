"""How an instance's run starts and ends: the operations runners (and operators) ask for.

Plain functions of a ``TriggerManager``, kept out of ``manager.py`` so the manager reads as its
user-facing operations; ``TriggerManager.start_instance``, ``complete_instance``,
``fail_instance`` and ``abort_instance`` delegate here. Each is one unit of work of the
manager's ``unit_of_work``; cascades go through ``manager._fire_in`` so subclasses that wrap
every firing still see them.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from . import firing
from .exceptions import InvalidStatusTransition
from .outcomes import Failed, Finished, Outcome, Retry, Skipped, error_record
from .session_index import note_failures
from .types import (
    STATUS_FAILED,
    STATUS_FINISHED,
    STATUS_RUNNING,
    STATUS_SCHEDULED,
    STATUS_SKIPPED,
    TaskConfig,
    TaskInstance,
    task_name_of,
)
from .unit_of_work import Effects

if TYPE_CHECKING:
    from .manager import TriggerManager
    from .storages.working_set import SessionState

logger = logging.getLogger("triggers.manager")
T = TypeVar("T")


def _index_of(state: SessionState, name: str) -> list[str]:
    """The task whose unstarted index a write of instance ``name`` updates, if it is stored."""
    return [task_name_of(name)] if state.stores_unstarted_index else []


def indexed(manager: TriggerManager, inst: T) -> T:
    """Make a just-failed instance's error searchable in the admin (after the commit)."""
    if isinstance(inst, TaskInstance) and inst.status == STATUS_FAILED:
        note_failures(manager.session_uid, [inst])
    return inst


def start_instance(manager: TriggerManager, name: str) -> tuple[TaskInstance, TaskConfig] | None:
    """Move ``scheduled -> running``; ``None`` when the instance must not run (again)."""

    def operation(state: SessionState) -> tuple[TaskInstance, TaskConfig] | None:
        state.prefetch([name], configs=True, unstarted=_index_of(state, name))
        inst = state.find_instance(name)
        if inst is None or inst.status != STATUS_SCHEDULED:
            logger.info("not running %s: it is %s", name, inst.status if inst else "missing")
            return None
        config = state.configs.get(inst.task_name)
        if config is None:
            inst.set_status(STATUS_FAILED)
            inst.metadata.update(
                exc_type="UnknownTaskError",
                exc_message=f"task {inst.task_name!r} is no longer configured",
            )
            state.save_instance(inst)
            return None
        inst.set_status(STATUS_RUNNING)
        state.save_instance(inst)
        return inst, config

    return manager.unit_of_work.transact(operation)


def complete_instance(
    manager: TriggerManager,
    name: str,
    outcome: Outcome,
    logs: list[dict[str, Any]] | None = None,
    duration: float | None = None,
) -> TaskInstance | None:
    """Record how a run ended and fire its cascade in the same write; once only."""

    def operation(state: SessionState) -> tuple[TaskInstance | None, Effects]:
        effects = Effects.empty()
        state.prefetch([name], configs=True, metadata=True, unstarted=_index_of(state, name))
        inst = state.get_instance(name)
        if inst.status != STATUS_RUNNING:
            logger.warning("ignoring the outcome of %s: it is %s", name, inst.status)
            return None, effects
        inst.record_logs(logs or [])
        if duration is not None:
            inst.metadata["duration"] = duration
        config = manager._config_of(state, inst)
        if isinstance(outcome, Finished):
            inst.set_status(STATUS_FINISHED)
            inst.metadata["result"] = outcome.result
            state.save_instance(inst)
            manager._fire_in(state, inst.task_name, outcome.result, effects)
        elif isinstance(outcome, Skipped):
            inst.set_status(STATUS_SKIPPED)
            inst.metadata.update(outcome.metadata)
            inst.metadata.update(skip_reason=outcome.reason, result=outcome.result)
            inst.metadata["cascaded"] = outcome.cascade
            state.save_instance(inst)
            if outcome.cascade:
                manager._fire_in(state, inst.task_name, outcome.result, effects)
        elif isinstance(outcome, Failed):
            inst.fail(outcome.exc_type, outcome.message, outcome.traceback, outcome.qualified_type)
            state.save_instance(inst)
        elif isinstance(outcome, Retry):
            firing.retry(manager, state, inst, config, outcome, effects)
        return inst, effects

    try:
        inst, effects = manager.unit_of_work.transact(operation)
    except Exception as exc:  # the outcome could not be saved: say why, never stay running
        logger.exception("could not save the outcome of %s; marking it failed", name)
        return fail_unsaved(manager, name, outcome, exc)
    indexed(manager, inst)
    manager.unit_of_work.after_commit(effects)
    return inst


def fail_unsaved(
    manager: TriggerManager, name: str, outcome: Outcome, error: Exception
) -> TaskInstance | None:
    """A second, minimal write: the instance fails with the error that stopped the first."""
    kind = type(outcome).__name__.lower()
    message = f"the task's outcome ({kind}) could not be saved: {error}"
    tb = "".join(traceback.format_exception(error))

    def operation(state: SessionState) -> TaskInstance | None:
        inst = state.get_instance(name)
        if inst.status != STATUS_RUNNING:
            return None
        inst.fail(type(error).__name__, message, tb)
        inst.metadata["unsaved_outcome"] = kind
        inst.record_logs([error_record(f"{type(error).__name__}: {message}")])
        state.save_instance(inst)
        return inst

    return indexed(manager, manager.unit_of_work.transact(operation))


def fail_instance(
    manager: TriggerManager,
    name: str,
    exc_type: str,
    message: str,
    only_if: Callable[[TaskInstance], bool] | None = None,
) -> TaskInstance | None:
    """Mark a scheduled or running instance failed (recovery); ``None`` if ``only_if`` says no.

    ``only_if`` is evaluated under the session's lock, on the instance as currently stored.
    """

    def operation(state: SessionState) -> TaskInstance | None:
        inst = state.get_instance(name)
        if inst.status not in (STATUS_SCHEDULED, STATUS_RUNNING):
            return None
        if only_if is not None and not only_if(inst):
            return None
        inst.fail(exc_type, message)
        inst.record_logs([error_record(f"{exc_type}: {message}")])
        state.save_instance(inst)
        return inst

    return indexed(manager, manager.unit_of_work.transact(operation))


def abort_instance(manager: TriggerManager, name: str, reason: str) -> TaskInstance:
    """An operator fails a ``scheduled`` or ``running`` instance (``Aborted``)."""
    message = f"aborted by an operator: {reason}" if reason else "aborted by an operator"

    def operation(state: SessionState) -> TaskInstance:
        inst = state.get_instance(name)
        if inst.status not in (STATUS_SCHEDULED, STATUS_RUNNING):
            raise InvalidStatusTransition(name, inst.status, "aborted")
        inst.fail("Aborted", message)
        inst.metadata["abort_reason"] = reason
        inst.record_logs([error_record(f"Aborted: {message}")])
        state.save_instance(inst)
        return inst

    return indexed(manager, manager.unit_of_work.transact(operation))
