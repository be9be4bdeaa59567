"""What runners ask of the manager: claim an instance, record how its run ended, fail it.

Mixed into ``TriggerManager``; kept apart because these are the runner-facing operations,
while the manager module holds the user-facing ones.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .outcomes import Failed, Finished, Outcome, Retry, Skipped
from .runners.base import Dispatch
from .storable import storable_text
from .transitions import error_record, record_logs, set_status
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

if TYPE_CHECKING:
    from .storages.state import SessionState

logger = logging.getLogger("triggers.manager")


@dataclass
class Effects:
    """What a unit of work asks for after its commit: hooks to call and instances to run."""

    #: Each trigger fired, with the instances that firing scheduled (for ``_post_fire``).
    fired: list[tuple[str, list[TaskInstance]]]
    dispatch: list[Dispatch]

    @classmethod
    def empty(cls) -> Effects:
        return cls(fired=[], dispatch=[])


def _index_of(state: SessionState, name: str) -> list[str]:
    """The task whose unstarted index a write of instance ``name`` updates, if it is stored."""
    return [task_name_of(name)] if state.stores_unstarted_index else []


def name_of(instance: TaskInstance | str) -> str:
    return instance if isinstance(instance, str) else instance.name


class InstanceLifecycle:
    """Runner-facing half of ``TriggerManager`` (it uses the manager's ``_transact``,
    ``_fire_in``, ``_replay_in`` and ``_after_commit``)."""

    if TYPE_CHECKING:  # defined by TriggerManager, which this class is mixed into
        _transact: Callable[..., Any]
        _config_of: Callable[[SessionState, TaskInstance], TaskConfig]
        _fire_in: Callable[..., None]
        _replay_in: Callable[..., TaskInstance]
        _after_commit: Callable[..., None]

    def start_instance(self, name: str) -> tuple[TaskInstance, TaskConfig] | None:
        """Move ``scheduled -> running``; ``None`` when the instance must not run (again)."""

        def operation(state: SessionState) -> tuple[TaskInstance, TaskConfig] | None:
            state.prefetch([name], configs=True, unstarted=_index_of(state, name))
            inst = state.find_instance(name)
            if inst is None or inst.status != STATUS_SCHEDULED:
                logger.info("not running %s: it is %s", name, inst.status if inst else "missing")
                return None
            config = state.configs.get(inst.task_name)
            if config is None:
                set_status(inst, STATUS_FAILED)
                inst.metadata.update(
                    exc_type="UnknownTaskError",
                    exc_message=f"task {inst.task_name!r} is no longer configured",
                )
                state.save_instance(inst)
                return None
            set_status(inst, STATUS_RUNNING)
            state.save_instance(inst)
            return inst, config

        return self._transact(operation)

    def complete_instance(
        self,
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
            record_logs(inst, logs or [])
            if duration is not None:
                inst.metadata["duration"] = duration
            config = self._config_of(state, inst)
            if isinstance(outcome, Finished):
                set_status(inst, STATUS_FINISHED)
                inst.metadata["result"] = outcome.result
                state.save_instance(inst)
                self._fire_in(state, inst.task_name, outcome.result, effects)
            elif isinstance(outcome, Skipped):
                set_status(inst, STATUS_SKIPPED)
                inst.metadata.update(outcome.metadata)
                inst.metadata.update(skip_reason=outcome.reason, result=outcome.result)
                inst.metadata["cascaded"] = outcome.cascade
                state.save_instance(inst)
                if outcome.cascade:
                    self._fire_in(state, inst.task_name, outcome.result, effects)
            elif isinstance(outcome, Failed):
                self._fail(inst, outcome)
                state.save_instance(inst)
            elif isinstance(outcome, Retry):
                self._retry_in(state, inst, config, outcome, effects)
            return inst, effects

        try:
            inst, effects = self._transact(operation)
        except Exception as exc:  # the outcome could not be saved: say why, never stay running
            logger.exception("could not save the outcome of %s; marking it failed", name)
            return self._fail_unsaved(name, outcome, exc)
        self._after_commit(effects)
        return inst

    def _fail_unsaved(self, name: str, outcome: Outcome, error: Exception) -> TaskInstance | None:
        """A second, minimal write: the instance fails with the error that stopped the first."""
        kind = type(outcome).__name__.lower()
        message = f"the task's outcome ({kind}) could not be saved: {error}"
        tb = "".join(traceback.format_exception(error))

        def operation(state: SessionState) -> TaskInstance | None:
            inst = state.get_instance(name)
            if inst.status != STATUS_RUNNING:
                return None
            self._fail(inst, Failed(type(error).__name__, message, tb))
            inst.metadata["unsaved_outcome"] = kind
            record_logs(inst, [error_record(f"{type(error).__name__}: {message}")])
            state.save_instance(inst)
            return inst

        return self._transact(operation)

    def fail_instance(
        self,
        instance: TaskInstance | str,
        exc_type: str,
        message: str,
        only_if: Callable[[TaskInstance], bool] | None = None,
    ) -> TaskInstance | None:
        """Mark a scheduled or running instance failed (recovery); ``None`` if ``only_if`` says no.

        ``only_if`` is evaluated under the session's lock, on the instance as currently stored.
        """
        name = name_of(instance)

        def operation(state: SessionState) -> TaskInstance | None:
            inst = state.get_instance(name)
            if inst.status not in (STATUS_SCHEDULED, STATUS_RUNNING):
                return None
            if only_if is not None and not only_if(inst):
                return None
            self._fail(inst, Failed(exc_type, message))
            record_logs(inst, [error_record(f"{exc_type}: {message}")])
            state.save_instance(inst)
            return inst

        return self._transact(operation)

    def _retry_in(
        self,
        state: SessionState,
        inst: TaskInstance,
        config: TaskConfig,
        outcome: Retry,
        effects: Effects,
    ) -> None:
        self._fail(inst, Failed("RetryRequested", outcome.reason or "the task asked to be retried"))
        inst.metadata.update(outcome.metadata)
        if outcome.cooldown:
            inst.metadata["cooldown"] = outcome.cooldown
        if inst.depth >= outcome.max_retries:
            inst.metadata.update(
                exc_type="MaxRetriesExceeded",
                exceptionType="triggers.task.MaxRetriesExceeded",
                exc_message=(
                    f"task {inst.task_name!r} asked for a retry after {inst.depth} "
                    f"retries (limit {outcome.max_retries}): {outcome.reason}"
                ),
            )
            state.save_instance(inst)
            return
        self._replay_in(state, inst, config, outcome.replacement_kwargs, outcome.cooldown, effects)

    def _fail(self, inst: TaskInstance, outcome: Failed) -> None:
        set_status(inst, STATUS_FAILED)
        trace = storable_text(outcome.traceback)
        inst.metadata.update(
            exc_type=storable_text(outcome.exc_type),
            exc_message=storable_text(outcome.message),
            traceback=trace,
            # The triggers framework's keys, so its code and tests read failures as before.
            exceptionType=storable_text(outcome.qualified_type or outcome.exc_type),
            exceptionInfo=trace,
        )
