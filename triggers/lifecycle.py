"""Compatibility names: the runner-facing operations are ``TriggerManager`` methods now.

``InstanceLifecycle`` was a mixin of ``TriggerManager``; it is the manager class itself here, so
``isinstance`` checks and subclasses written against it keep working. ``Effects`` lives in
``triggers.unit_of_work``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .manager import name_of
from .unit_of_work import Effects

if TYPE_CHECKING:
    from .manager import TriggerManager as InstanceLifecycle

__all__ = ["Effects", "InstanceLifecycle", "name_of"]


def __getattr__(name: str) -> Any:
    if name == "InstanceLifecycle":
        from .manager import TriggerManager

        return TriggerManager
    raise AttributeError(f"module 'triggers.lifecycle' has no attribute {name!r}")
