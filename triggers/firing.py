"""The session's rules, applied inside one unit of work: fire, schedule, replay, retry.

Kept out of ``manager.py`` so that the manager reads as its operations; every function here
changes a ``SessionState`` and records in ``Effects`` what must happen after the commit.
"""

from __future__ import annotations

import copy
import logging
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from .conf import triggers_setting
from .exceptions import TooManyInstancesError
from .outcomes import Retry
from .runners import get_runner
from .types import STATUS_ABANDONED, STATUS_REPLAYED, STATUS_SCHEDULED, TaskConfig, now
from .unit_of_work import Dispatch, Effects

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .manager import TriggerManager
    from .storages.working_set import SessionState
    from .types import TaskInstance

logger = logging.getLogger("triggers.manager")

#: Session-level errors kept in the session's metadata (the oldest are dropped).
MAX_SESSION_ERRORS = 50


def fire(
    manager: TriggerManager,
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
    state.prefetch(unstarted=[c.name for c in state.configs.values() if c.uses_trigger(trigger)])
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
        if not absorbed and creates and _room_for(manager, state, config, trigger, strict):
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
                inst.set_status(STATUS_ABANDONED)
                state.save_instance(inst)
        for inst in state.unstarted_instances(config.name):
            if config.triggers_required <= inst.kwargs.keys():
                schedule(manager, state, inst, config, effects)
    latest[trigger] = copy.deepcopy(kwargs)
    state.touch_metadata()
    scheduled = [item.instance_name for item in effects.dispatch[first_dispatch:]]
    effects.fired.append((trigger, [copy.deepcopy(inst) for inst in state.instances(scheduled)]))


def schedule(
    manager: TriggerManager,
    state: SessionState,
    inst: TaskInstance,
    config: TaskConfig,
    effects: Effects,
    delay: float = 0.0,
) -> None:
    """Mark ``inst`` scheduled on its runner (``manager.runner`` overrides ``using``)."""
    inst.set_status(STATUS_SCHEDULED)
    if delay:
        inst.metadata["not_before"] = (datetime.now(UTC) + timedelta(seconds=delay)).isoformat()
    using = manager.runner or config.using
    info = get_runner(using).prepare(manager, inst, config, delay)
    inst.metadata.update(info, runner=using or triggers_setting("DEFAULT_RUNNER"))
    state.save_instance(inst)
    effects.dispatch.append(Dispatch(inst.name, using, delay, info))


def replay(
    manager: TriggerManager,
    state: SessionState,
    original: TaskInstance,
    config: TaskConfig,
    replacement_kwargs: Mapping[str, Any] | None,
    delay: float,
    effects: Effects,
) -> TaskInstance:
    """Mark ``original`` replayed and schedule a clone (depth + 1) ``delay`` seconds ahead."""
    original.set_status(STATUS_REPLAYED)
    clone = state.clone_instance(original)
    if replacement_kwargs is not None:
        clone.kwargs = copy.deepcopy(dict(replacement_kwargs))
    original.metadata["replayed_by"] = clone.name
    state.save_instance(original)
    schedule(manager, state, clone, config, effects, delay)
    return clone


def retry(
    manager: TriggerManager,
    state: SessionState,
    inst: TaskInstance,
    config: TaskConfig,
    outcome: Retry,
    effects: Effects,
) -> None:
    """A task asked to run again: fail it, and replay it unless it ran out of retries."""
    inst.fail("RetryRequested", outcome.reason or "the task asked to be retried")
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
    replay(manager, state, inst, config, outcome.replacement_kwargs, outcome.cooldown, effects)


def _room_for(
    manager: TriggerManager, state: SessionState, config: TaskConfig, trigger: str, strict: bool
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
    logger.error("session %s: %s", manager.session_uid, message)
    errors = state.metadata.setdefault("errors", [])
    errors.append({"time": now(), "task": config.name, "trigger": trigger, "message": message})
    del errors[:-MAX_SESSION_ERRORS]
    state.touch_metadata()
    return False
