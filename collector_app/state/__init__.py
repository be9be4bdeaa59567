"""Collector state: what a configured collector remembers between runs (docs/state.md).

The public API; nothing here touches the database at import time, so ``components`` can use it.
Running configured collectors is in ``collector_app.state.running``, the contract tests for
stores in ``collector_app.state.contract``.
"""

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
from .locking import collector_lock
from .n6 import LegacyStateError
from .stores import get_state_store, get_state_store_class

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
