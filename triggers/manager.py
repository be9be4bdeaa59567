"""``TriggerManager``: fires triggers into a session and moves its instances through statuses.

Every operation is one unit of work on the storage (``storage.transaction()``), retried from
fresh state if the storage refused its write as stale. Hooks run and ready instances are handed
to their runners only after the write succeeded, never while the session is locked.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from . import firing, run_endings
from .conf import triggers_setting
from .configuration import check_json, parse_configuration
from .exceptions import InvalidKwargsError, UnknownTaskError
from .outcomes import Outcome
from .plugins import ClassRegistry
from .storages import BaseTriggerStorage, get_storage
from .storages.working_set import SessionState
from .types import (
    STATUS_FAILED,
    STATUS_SKIPPED,
    STATUSES,
    TaskConfig,
    TaskInstance,
)
from .unit_of_work import Effects, UnitOfWork

logger = logging.getLogger("triggers.manager")
T = TypeVar("T")

#: Instance metadata that ``update_instance_metadata`` never takes from its caller.
PROTECTED_METADATA = ("created", "lastModified")
MAX_SESSION_ERRORS = firing.MAX_SESSION_ERRORS


def name_of(instance: TaskInstance | str) -> str:
    return instance if isinstance(instance, str) else instance.name


class TriggerManager:
    """The engine of one trigger session, kept in ``storage``.

    User-facing operations (fire, replay, skip, ...) and runner-facing ones (start, complete,
    fail an instance) are all units of work of ``self.unit_of_work``.
    """

    #: The key this class was found under in ``trigger_managers`` (set on lookup).
    triggers__registry_key: str | None = None

    def __init__(self, storage: BaseTriggerStorage) -> None:
        if not isinstance(storage, BaseTriggerStorage):
            raise TypeError(
                f"TriggerManager needs a BaseTriggerStorage, not {type(storage).__name__}; "
                f"use TriggerManager.for_session(uid) to build one by name"
            )
        self.storage = storage
        self.unit_of_work = UnitOfWork(self)
        #: When set, every instance this manager schedules runs on this runner, whatever its
        #: ``using`` says (``triggers_replay --here`` uses ``"sync"``).
        self.runner: str | None = None

    @classmethod
    def for_session(cls, uid: str, storage: str | None = None, **options: Any) -> TriggerManager:
        """A manager for session ``uid`` on the storage called ``storage`` (default: settings)."""
        return cls(get_storage(uid, storage, **options))

    @property
    def session_uid(self) -> str:
        return self.storage.uid

    # -- public operations --------------------------------------------------------------------
    def update_configuration(
        self, configuration: Mapping[str, Mapping[str, Any]], replace: bool = False
    ) -> None:
        """Add or replace the tasks ``configuration`` names; the others stay (as in the
        triggers framework) unless ``replace`` is true. A malformed one changes nothing."""
        configs = parse_configuration(configuration)

        def operation(state: SessionState) -> None:
            merged = {} if replace else dict(state.configs)
            merged.update(configs)
            state.set_configs(merged)

        self._transact(operation)

    def fire(self, trigger_name: str, trigger_kwargs: Mapping[str, Any] | None = None) -> list[str]:
        """Fire a trigger; returns the names of the instances it scheduled."""
        if not isinstance(trigger_name, str) or not trigger_name:
            raise InvalidKwargsError(f"a trigger name is a non-empty string, not {trigger_name!r}")
        kwargs = self._checked_kwargs(trigger_name, trigger_kwargs)

        def operation(state: SessionState) -> Effects:
            effects = Effects.empty()
            state.prefetch(configs=True, metadata=True, counts=True)
            self._fire_in(state, trigger_name, kwargs, effects, strict=True)
            return effects

        effects = self._transact(operation)
        self.unit_of_work.after_commit(effects)
        return [item.instance_name for item in effects.dispatch]

    def replay_failed_instance(
        self,
        failed_instance: TaskInstance | str,
        replacement_kwargs: Mapping[str, Any] | None = None,
    ) -> TaskInstance:
        """Mark a failed instance ``replayed`` and run a clone (depth + 1) in its place.

        ``replacement_kwargs`` (``{trigger: kwargs}``), when given, replace the clone's kwargs
        wholesale, ``{}`` included; ``None`` keeps the failed instance's kwargs.
        """
        name = name_of(failed_instance)
        if replacement_kwargs is not None:
            replacement_kwargs = self._checked_kwargs(f"replay of {name}", replacement_kwargs)
            for trigger, kwargs in replacement_kwargs.items():
                if not isinstance(kwargs, Mapping):
                    raise InvalidKwargsError(
                        f"replacement kwargs for {name!r}: the kwargs of trigger {trigger!r} "
                        f"must be a JSON object, not {type(kwargs).__name__}"
                    )

        def operation(state: SessionState) -> tuple[TaskInstance, TaskInstance, Effects]:
            original = state.get_instance(name)
            config = self._config_of(state, original)
            original.require_status(STATUS_FAILED, "replayed")
            effects = Effects.empty()
            clone = firing.replay(self, state, original, config, replacement_kwargs, 0.0, effects)
            return original, clone, effects

        original, clone, effects = self._transact(operation)
        self._post_replay(original)
        self.unit_of_work.after_commit(effects)
        return clone

    def skip_failed_instance(
        self,
        failed_instance: TaskInstance | str,
        cascade: bool = False,
        result: Mapping[str, Any] | None = None,
    ) -> TaskInstance:
        """Mark a failed instance ``skipped``; with ``cascade``, fire ``result`` as if it ran."""
        name = name_of(failed_instance)
        result_kwargs = self._checked_kwargs(f"result of {name}", result)

        def operation(state: SessionState) -> tuple[TaskInstance, Effects]:
            inst = state.get_instance(name)
            inst.require_status(STATUS_FAILED, "skipped")
            effects = Effects.empty()
            inst.set_status(STATUS_SKIPPED)
            inst.metadata["result"] = result_kwargs
            inst.metadata["cascaded"] = bool(cascade)
            state.save_instance(inst)
            if cascade:
                self._fire_in(state, inst.task_name, result_kwargs, effects, strict=True)
            return inst, effects

        inst, effects = self._transact(operation)
        self.unit_of_work.after_commit(
            effects, before_dispatch=lambda: self._post_skip(inst, cascade)
        )
        return inst

    def update_instance_status(
        self,
        task_instance: TaskInstance | str,
        status: str,
        metadata: Mapping[str, Any] | None = None,
        cascade: bool = False,
        cascade_kwargs: Mapping[str, Any] | None = None,
    ) -> TaskInstance:
        """Move an instance to ``status`` if the transition is allowed (no runner is called),
        merging ``metadata``; with ``cascade``, fire the task's trigger with ``cascade_kwargs``
        in the same write."""
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; statuses: {', '.join(STATUSES)}")
        name = name_of(task_instance)
        values = self._checked_kwargs(f"metadata of {name}", metadata)
        fired_kwargs = self._checked_kwargs(f"cascade kwargs of {name}", cascade_kwargs)

        def operation(state: SessionState) -> tuple[TaskInstance, Effects]:
            effects = Effects.empty()
            inst = state.get_instance(name)
            inst.set_status(status)
            inst.metadata.update(values)
            state.save_instance(inst)
            if cascade:
                self._fire_in(state, inst.task_name, fired_kwargs, effects, strict=True)
            return inst, effects

        inst, effects = self._transact(operation)
        self.unit_of_work.after_commit(effects)
        return inst

    def update_instance_metadata(
        self, task_instance: TaskInstance | str, metadata: Mapping[str, Any]
    ) -> TaskInstance:
        """Merge ``metadata`` into an instance's metadata (keys replace, others stay).

        The instance's ``created`` timestamp is kept, and ``lastModified`` is the time of this
        update, whatever ``metadata`` says about either.
        """
        name = name_of(task_instance)
        values = self._checked_kwargs(f"metadata of {name}", metadata)
        for key in PROTECTED_METADATA:
            values.pop(key, None)

        def operation(state: SessionState) -> TaskInstance:
            inst = state.get_instance(name)
            before = dict(inst.metadata.get("timestamps") or {})
            inst.metadata.update(values)
            stamps = values.get("timestamps")
            given: dict[str, Any] = stamps if isinstance(stamps, dict) else {}
            inst.metadata["timestamps"] = {
                **before,
                **{key: value for key, value in given.items() if key not in PROTECTED_METADATA},
            }
            inst.touch()
            state.save_instance(inst)
            return inst

        return self._transact(operation)

    def mark_instance_logs_resolved(self, task_instance: TaskInstance | str) -> TaskInstance:
        return self.update_instance_metadata(task_instance, {"logs_resolved": True})

    def abort_instance(self, instance: TaskInstance | str, reason: str = "") -> TaskInstance:
        """Fail a ``scheduled`` or ``running`` instance (``Aborted``) so it can be replayed or
        skipped; a job that still delivers it later finds it failed and does nothing."""
        name = name_of(instance)
        reason = str(reason or "").strip()
        check_json(reason, f"abort reason of {name}")
        return run_endings.abort_instance(self, name, reason)

    # -- what runners ask: claim an instance, record how its run ended, fail it --------------
    # (the operations themselves are in ``triggers.run_endings``)
    def start_instance(self, name: str) -> tuple[TaskInstance, TaskConfig] | None:
        """Move ``scheduled -> running``; ``None`` when the instance must not run (again)."""
        return run_endings.start_instance(self, name)

    def complete_instance(
        self,
        name: str,
        outcome: Outcome,
        logs: list[dict[str, Any]] | None = None,
        duration: float | None = None,
    ) -> TaskInstance | None:
        """Record how a run ended and fire its cascade in the same write; once only."""
        return run_endings.complete_instance(self, name, outcome, logs, duration)

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
        return run_endings.fail_instance(self, name_of(instance), exc_type, message, only_if)

    # -- hooks for subclasses -----------------------------------------------------------------
    def _post_fire(self, trigger_name: str, tasks_scheduled: list[TaskInstance]) -> None:
        """Called after a trigger fired (cascades included) and the session was saved, with
        the instances that firing scheduled (as in the triggers framework)."""

    def _post_replay(self, task_instance: TaskInstance) -> None:
        """Called after a failed instance was replayed (``task_instance`` is the original)."""

    def _post_skip(self, task_instance: TaskInstance, cascade: bool) -> None:
        """Called after a failed instance was skipped (after the cascade's ``_post_fire``)."""

    # -- internals ----------------------------------------------------------------------------
    def _transact(self, operation: Callable[[SessionState], T]) -> T:
        return self.unit_of_work.transact(operation)

    def _fire_in(
        self,
        state: SessionState,
        trigger: str,
        kwargs: dict[str, Any],
        effects: Effects,
        strict: bool = False,
    ) -> None:
        """Fire ``trigger`` inside a unit of work (``triggers.firing.fire``); a method so that
        subclasses and tests can wrap every firing, cascades included."""
        firing.fire(self, state, trigger, kwargs, effects, strict)

    def _config_of(self, state: SessionState, inst: TaskInstance) -> TaskConfig:
        try:
            return state.configs[inst.task_name]
        except KeyError:
            raise UnknownTaskError(inst.task_name, self.session_uid) from None

    @staticmethod
    def _checked_kwargs(where: str, kwargs: Mapping[str, Any] | None) -> dict[str, Any]:
        if kwargs is None:
            return {}
        if not isinstance(kwargs, Mapping):
            raise InvalidKwargsError(
                f"{where}: kwargs must be a mapping, not {type(kwargs).__name__}"
            )
        check_json(kwargs, where)
        return copy.deepcopy(dict(kwargs))


#: The triggers framework's registry of manager classes (entry-point group
#: ``triggers.managers``): ``trigger_managers.get("default", storage=storage)``.
trigger_managers = ClassRegistry(
    "manager", "triggers.managers", {"default": "triggers.manager.TriggerManager"}
)


def get_manager(uid: str, storage: str | None = None) -> TriggerManager:
    """The project's manager class (``TRIGGERS["MANAGER_CLASS"]``) for one session, by names."""
    from django.utils.module_loading import import_string

    manager_class = import_string(triggers_setting("MANAGER_CLASS"))
    return manager_class.for_session(uid, storage)
