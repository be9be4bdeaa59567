"""Collector state: what a configured collector remembers between runs (docs/state.md).

The public API; nothing here touches the database at import time, so ``components`` can use it.
The contract tests for stores are in ``collector_app.state.contract``. The collector lock
(``collector_lock``, still importable here) is ``collector_app.leases``; configured collectors
and running them are ``collector_app.pipelines`` (``collector_app.state.running`` and
``collector_app.state.locking`` are the old names of those modules).
"""

from typing import TYPE_CHECKING, Any

from .base import (
    BaseStateStore,
    CollectorBusyError,
    CorruptStateError,
    InvalidStateError,
    LockLostError,
    NoState,
    StateError,
    StateRecord,
)
from .handle import (
    StatefulCollectorMixin,
    StatefulTaskMixin,
    StateHandle,
    StateMethods,
    component_state,
    task_state,
)
from .keys import collector_key, config_digest
from .n6 import LegacyStateError
from .stores import get_state_store, get_state_store_class

if TYPE_CHECKING:
    from ..leases import collector_lock

__all__ = [
    "BaseStateStore",
    "CollectorBusyError",
    "CorruptStateError",
    "InvalidStateError",
    "LegacyStateError",
    "LockLostError",
    "NoState",
    "StateError",
    "StateHandle",
    "StateMethods",
    "StateRecord",
    "StatefulCollectorMixin",
    "StatefulTaskMixin",
    "collector_key",
    "collector_lock",
    "component_state",
    "config_digest",
    "get_state_store",
    "get_state_store_class",
    "task_state",
]


def __getattr__(name: str) -> Any:
    # ``collector_lock`` lives in ``collector_app.leases``, which imports this package: looked
    # up on first use, so either can be imported first.
    if name == "collector_lock":
        from ..leases import collector_lock

        return collector_lock
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
