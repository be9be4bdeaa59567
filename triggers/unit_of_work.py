"""``UnitOfWork``: how every ``TriggerManager`` operation reaches the storage.

An operation is a function of one ``SessionState`` (a fenced write on the session). The unit of
work runs it in ``storage.transaction()``, runs it again from fresh state when the storage
refused the write as stale, and only once the write is saved runs what the operation asked for
afterwards (``Effects``): the ``_post_fire`` hooks, then the runners of the instances it
scheduled. Nothing runs while the session is locked, and nothing runs for a refused write.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from redis.exceptions import RedisError

from .conf import triggers_setting
from .exceptions import DispatchError, StaleWriteError

if TYPE_CHECKING:
    from .manager import TriggerManager
    from .storages.working_set import SessionState
    from .types import TaskInstance

logger = logging.getLogger("triggers.manager")
T = TypeVar("T")


@dataclass
class Dispatch:
    """An instance to hand to its runner once the unit of work that scheduled it is saved."""

    instance_name: str
    runner: str | None
    delay: float = 0.0
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class Effects:
    """What a unit of work asks for after its commit: hooks to call and instances to run."""

    #: Each trigger fired, with the instances that firing scheduled (for ``_post_fire``).
    fired: list[tuple[str, list[TaskInstance]]]
    dispatch: list[Dispatch]

    @classmethod
    def empty(cls) -> Effects:
        return cls(fired=[], dispatch=[])


class UnitOfWork:
    """Transact, retry on a stale write, then apply the effects of what was committed."""

    def __init__(self, manager: TriggerManager) -> None:
        self.manager = manager

    def transact(self, operation: Callable[[SessionState], T]) -> T:
        """Run ``operation`` in one write; from fresh state again if the write was stale."""
        storage = self.manager.storage
        attempts = int(triggers_setting("MAX_ATTEMPTS"))
        for attempt in range(1, attempts + 1):
            try:
                with storage.transaction() as state:
                    return operation(state)
            except StaleWriteError:
                if attempt >= attempts:
                    raise
                logger.warning(
                    "session %s: write refused as stale (attempt %d of %d); retrying",
                    storage.uid,
                    attempt,
                    attempts,
                )
        raise AssertionError("unreachable")

    def after_commit(
        self, effects: Effects, before_dispatch: Callable[[], None] | None = None
    ) -> None:
        """Call the ``_post_fire`` hooks, then ``before_dispatch``, then the runners."""
        for trigger_name, scheduled in effects.fired:
            self.manager._post_fire(trigger_name, scheduled)
        if before_dispatch is not None:
            before_dispatch()
        self.dispatch(effects.dispatch)

    def dispatch(self, items: list[Dispatch]) -> None:
        """Hand saved, scheduled instances to their runners, one call per runner.

        A Redis error is raised as ``DispatchError`` naming what was not handed over; the write
        is saved, and recovery enqueues those instances later.
        """
        from .runners import get_runner

        groups: dict[str | None, list[Dispatch]] = {}
        for item in items:
            groups.setdefault(item.runner, []).append(item)
        failed: dict[str, list[str]] = {}
        cause: RedisError | None = None
        for runner, group in groups.items():
            try:
                get_runner(runner).schedule(self.manager, group)
            except RedisError as exc:
                names = [item.instance_name for item in group]
                failed[runner or triggers_setting("DEFAULT_RUNNER")] = names
                cause = exc
                logger.warning(
                    "session %s: dispatch of %s failed: %s", self.manager.session_uid, names, exc
                )
        if cause is not None:
            raise DispatchError(self.manager.session_uid, failed, cause) from cause
