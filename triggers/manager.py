"""``TriggerManager``: fires triggers into a session and moves its instances through statuses.

Every operation is one unit of work on the storage (``storage.transaction()``), retried from
fresh state if the storage refused its write as stale. Hooks run and ready instances are handed
to their runners only after the write succeeded, never while the session is locked.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from redis.exceptions import RedisError

from .conf import triggers_setting
from .configuration import check_json, parse_configuration
from .exceptions import (
    DispatchError,
    InvalidKwargsError,
    InvalidStatusTransition,
    StaleWriteError,
    TooManyInstancesError,
    UnknownTaskError,
)
from .lifecycle import Effects, InstanceLifecycle, name_of
from .outcomes import Failed
from .plugins import ClassRegistry
from .runners import get_runner
from .runners.base import Dispatch
from .storages import BaseTriggerStorage, get_storage
from .storages.state import SessionState
from .transitions import error_record, now, record_logs, require_status, set_status, touch
from .types import (
    STATUS_ABANDONED,
    STATUS_FAILED,
    STATUS_REPLAYED,
    STATUS_RUNNING,
    STATUS_SCHEDULED,
    STATUS_SKIPPED,
    STATUSES,
    TaskConfig,
    TaskInstance,
)

logger = logging.getLogger("triggers.manager")
T = TypeVar("T")

#: Instance metadata that ``update_instance_metadata`` never takes from its caller.
PROTECTED_METADATA = ("created", "lastModified")
#: Session-level errors kept in the session's metadata (the oldest are dropped).
MAX_SESSION_ERRORS = 50


class TriggerManager(InstanceLifecycle):
    """The engine of one trigger session, kept in ``storage``."""

    #: The key this class was found under in ``trigger_managers`` (set on lookup).
    triggers__registry_key: str | None = None

    def __init__(self, storage: BaseTriggerStorage) -> None:
        if not isinstance(storage, BaseTriggerStorage):
            raise TypeError(
                f"TriggerManager needs a BaseTriggerStorage, not {type(storage).__name__}; "
                f"use TriggerManager.for_session(uid) to build one by name"
            )
        self.storage = storage
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
        self._after_commit(effects)
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
            require_status(original, STATUS_FAILED, "replayed")
            effects = Effects.empty()
            clone = self._replay_in(state, original, config, replacement_kwargs, 0.0, effects)
            return original, clone, effects

        original, clone, effects = self._transact(operation)
        self._post_replay(original)
        self._after_commit(effects)
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
            require_status(inst, STATUS_FAILED, "skipped")
            effects = Effects.empty()
            set_status(inst, STATUS_SKIPPED)
            inst.metadata["result"] = result_kwargs
            inst.metadata["cascaded"] = bool(cascade)
            state.save_instance(inst)
            if cascade:
                self._fire_in(state, inst.task_name, result_kwargs, effects, strict=True)
            return inst, effects

        inst, effects = self._transact(operation)
        self._after_commit(effects, before_dispatch=lambda: self._post_skip(inst, cascade))
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
            set_status(inst, status)
            inst.metadata.update(values)
            state.save_instance(inst)
            if cascade:
                self._fire_in(state, inst.task_name, fired_kwargs, effects, strict=True)
            return inst, effects

        inst, effects = self._transact(operation)
        self._after_commit(effects)
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
            touch(inst.metadata)
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
        message = f"aborted by an operator: {reason}" if reason else "aborted by an operator"

        def operation(state: SessionState) -> TaskInstance:
            inst = state.get_instance(name)
            if inst.status not in (STATUS_SCHEDULED, STATUS_RUNNING):
                raise InvalidStatusTransition(name, inst.status, "aborted")
            self._fail(inst, Failed("Aborted", message))
            inst.metadata["abort_reason"] = reason
            record_logs(inst, [error_record(f"Aborted: {message}")])
            state.save_instance(inst)
            return inst

        return self._transact(operation)

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
        attempts = int(triggers_setting("MAX_ATTEMPTS"))
        for attempt in range(1, attempts + 1):
            try:
                with self.storage.transaction() as state:
                    return operation(state)
            except StaleWriteError:
                if attempt >= attempts:
                    raise
                logger.warning(
                    "session %s: write refused as stale (attempt %d of %d); retrying",
                    self.session_uid,
                    attempt,
                    attempts,
                )
        raise AssertionError("unreachable")

    def _after_commit(
        self, effects: Effects, before_dispatch: Callable[[], None] | None = None
    ) -> None:
        for trigger_name, scheduled in effects.fired:
            self._post_fire(trigger_name, scheduled)
        if before_dispatch is not None:
            before_dispatch()
        self._dispatch(effects.dispatch)

    def _dispatch(self, items: list[Dispatch]) -> None:
        groups: dict[str | None, list[Dispatch]] = {}
        for item in items:
            groups.setdefault(item.runner, []).append(item)
        failed: dict[str, list[str]] = {}
        cause: RedisError | None = None
        for runner, group in groups.items():
            try:
                get_runner(runner).schedule(self, group)
            except RedisError as exc:  # the write is saved: say so, and let recovery enqueue
                names = [item.instance_name for item in group]
                failed[runner or triggers_setting("DEFAULT_RUNNER")] = names
                cause = exc
                logger.warning(
                    "session %s: dispatch of %s failed: %s", self.session_uid, names, exc
                )
        if cause is not None:
            raise DispatchError(self.session_uid, failed, cause) from cause

    def _fire_in(
        self,
        state: SessionState,
        trigger: str,
        kwargs: dict[str, Any],
        effects: Effects,
        strict: bool = False,
    ) -> None:
        """Fire ``trigger`` inside a unit of work.

        ``strict`` (a caller's own fire) raises ``TooManyInstancesError`` when a task would
        exceed ``MAX_INSTANCES_PER_TASK``; a cascade instead creates nothing for that task and
        records the error on the session, so the instance that cascaded still finishes.
        """
        latest = state.metadata.setdefault("latest_kwargs", {})
        fired = set(latest) | {trigger}
        first_dispatch = len(effects.dispatch)
        # The unstarted indexes of every task the trigger touches, in one read.
        state.prefetch(
            unstarted=[c.name for c in state.configs.values() if c.uses_trigger(trigger)]
        )
        for config in state.configs.values():
            if not config.uses_trigger(trigger):
                continue
            required = trigger in config.triggers_required
            absorbed = False
            for inst in state.unstarted_instances(config.name):
                if required and trigger not in inst.kwargs:  # first value wins
                    inst.kwargs[trigger] = copy.deepcopy(kwargs)
                    state.save_instance(inst)
                    absorbed = True
                elif not required and trigger not in inst.abandon_state:
                    inst.metadata["abandon_state"] = sorted(inst.abandon_state | {trigger})
                    state.save_instance(inst)
                    absorbed = True
            count = state.counts.get(config.name, 0)
            # As in the triggers framework: a task's first instance comes from any trigger it
            # uses (``unless`` included); later ones only from its ``andEvery`` trigger.
            creates = count == 0 or config.and_every == trigger
            if not absorbed and creates and self._room_for(state, config, trigger, strict):
                seed = {
                    other: copy.deepcopy(latest[other])
                    for other in config.triggers_required
                    if other != trigger and other in latest
                }
                abandon_state = sorted(
                    other for other in config.unless if other == trigger or other in latest
                )
                if required:
                    seed[trigger] = copy.deepcopy(kwargs)
                metadata: dict[str, Any] = {}
                if abandon_state:
                    metadata["abandon_state"] = abandon_state
                state.new_instance(config.name, seed, metadata)
            if config.unless and set(config.unless) <= fired:
                for inst in state.unstarted_instances(config.name):
                    set_status(inst, STATUS_ABANDONED)
                    state.save_instance(inst)
            for inst in state.unstarted_instances(config.name):
                if config.triggers_required <= inst.kwargs.keys():
                    self._schedule_in(state, inst, config, effects)
        latest[trigger] = copy.deepcopy(kwargs)
        state.touch_metadata()
        scheduled = [item.instance_name for item in effects.dispatch[first_dispatch:]]
        effects.fired.append(
            (trigger, [copy.deepcopy(inst) for inst in state.instances(scheduled)])
        )

    def _schedule_in(
        self,
        state: SessionState,
        inst: TaskInstance,
        config: TaskConfig,
        effects: Effects,
        delay: float = 0.0,
    ) -> None:
        set_status(inst, STATUS_SCHEDULED)
        if delay:
            inst.metadata["not_before"] = (datetime.now(UTC) + timedelta(seconds=delay)).isoformat()
        using = self.runner or config.using
        runner = get_runner(using)
        info = runner.prepare(self, inst, config, delay)
        inst.metadata.update(info, runner=using or triggers_setting("DEFAULT_RUNNER"))
        state.save_instance(inst)
        effects.dispatch.append(Dispatch(inst.name, using, delay, info))

    def _replay_in(
        self,
        state: SessionState,
        original: TaskInstance,
        config: TaskConfig,
        replacement_kwargs: Mapping[str, Any] | None,
        delay: float,
        effects: Effects,
    ) -> TaskInstance:
        set_status(original, STATUS_REPLAYED)
        clone = state.clone_instance(original)
        if replacement_kwargs is not None:
            clone.kwargs = copy.deepcopy(dict(replacement_kwargs))
        original.metadata["replayed_by"] = clone.name
        state.save_instance(original)
        self._schedule_in(state, clone, config, effects, delay)
        return clone

    def _room_for(
        self, state: SessionState, config: TaskConfig, trigger: str, strict: bool
    ) -> bool:
        limit = int(triggers_setting("MAX_INSTANCES_PER_TASK"))
        count = state.counts.get(config.name, 0)
        if count < limit:
            return True
        message = (
            f"firing {trigger!r} would create instance #{count} of task {config.name!r}, over "
            f"TRIGGERS['MAX_INSTANCES_PER_TASK'] = {limit}; nothing was created for it"
        )
        if strict:
            raise TooManyInstancesError(message)
        logger.error("session %s: %s", self.session_uid, message)
        errors = state.metadata.setdefault("errors", [])
        errors.append({"time": now(), "task": config.name, "trigger": trigger, "message": message})
        del errors[:-MAX_SESSION_ERRORS]
        state.touch_metadata()
        return False

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
