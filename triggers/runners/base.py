"""``BaseRunner``: how ready task instances get executed."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from ..manager import TriggerManager


class BaseRunner:
    """Receives instances that became ``scheduled``, after their session was saved.

    A runner must eventually call ``triggers.execution.execute_instance(manager, name)`` once
    per name (more than once is harmless: only a ``scheduled`` instance runs), no sooner than
    ``delay`` seconds from now.
    """

    name: ClassVar[str] = ""

    def schedule(
        self, manager: TriggerManager, instance_names: list[str], delay: float = 0.0
    ) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement schedule()")
