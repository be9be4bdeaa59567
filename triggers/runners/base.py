"""``BaseRunner``: how ready task instances get executed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from ..unit_of_work import Dispatch

if TYPE_CHECKING:
    from ..manager import TriggerManager
    from ..types import TaskConfig, TaskInstance


__all__ = ["BaseRunner", "Dispatch"]


class BaseRunner:
    """Receives instances that became ``scheduled``, after their session was saved.

    A runner must eventually call ``triggers.execution.execute_instance(manager, name)`` once
    per instance (more than once is harmless: only a ``scheduled`` instance runs), no sooner
    than ``delay`` seconds from now.
    """

    name: ClassVar[str] = ""
    #: Whether crash recovery (``triggers.recovery``) repairs this runner's instances: True for
    #: runners that put them on the watch list and hold a lease while they run (``rq``, ``sync``).
    #: Recovery leaves the instances of other runners alone.
    recoverable: ClassVar[bool] = False
    #: Whether ``requeue`` can hand a lost ``scheduled`` instance to this runner again (``rq``).
    #: Recovery fails, once its lease lapsed, a lost instance of a runner that cannot (``sync``).
    can_requeue: ClassVar[bool] = False

    def check_config(self, config: TaskConfig) -> None:
        """Refuse, with a ``ValueError``, task directives this runner cannot honour."""

    def prepare(
        self, manager: TriggerManager, instance: TaskInstance, config: TaskConfig, delay: float
    ) -> dict[str, Any]:
        """Called inside the unit of work that schedules ``instance``, before it is saved.

        Returns metadata stored on the instance in that same write (a job id, a queue name),
        and later handed back in ``Dispatch.info``.
        """
        return {}

    def schedule(self, manager: TriggerManager, items: list[Dispatch]) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement schedule()")

    def requeue(self, storage: str, uid: str, instance: TaskInstance, delay: float = 0.0) -> None:
        """Hand a ``scheduled`` instance whose delivery was lost (recovery) to the runner again,
        no sooner than ``delay`` seconds from now; only called when ``can_requeue`` is true."""
        raise NotImplementedError(f"{type(self).__name__} cannot requeue instances")
