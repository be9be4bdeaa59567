"""The contract every state store keeps, and the errors the state API raises.

A store maps a key (``collector_key(name, config)``) to one JSON value, with the collector's
name, its configuration digest, a version bumped by every save and the time of the last save.
``load`` raises ``NoState`` when nothing is stored and ``CorruptStateError`` when something is
stored but cannot be read back: a store never turns a bad record into a default silently.
``save`` replaces the whole value atomically: after a crash in the middle of a save, ``load``
returns the previous value. Values are JSON, never pickles.
"""

from __future__ import annotations

import builtins
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from ..exceptions import CollectorsError


class StateError(CollectorsError):
    """Base of the state API's errors."""


class NoState(StateError, LookupError):
    """Nothing is stored under this key (the collector starts from its default state)."""

    def __init__(self, key: str, location: str = "") -> None:
        self.key = key
        self.location = location
        super().__init__(
            f"no state stored under key {key!r}" + (f" ({location})" if location else "")
        )


class CorruptStateError(StateError):
    """A stored state that cannot be used. Never reset silently: fix it or reset it explicitly."""

    def __init__(self, key: str, location: str, reason: str, collector: str | None = None) -> None:
        self.key = key
        self.location = location
        self.reason = reason
        self.collector = collector
        super().__init__(key, location, reason, collector)

    def __str__(self) -> str:
        who = (
            f"collector {self.collector!r} (key {self.key!r})"
            if self.collector
            else (f"key {self.key!r}")
        )
        target = self.collector or self.key
        return (
            f"the stored state of {who} is corrupt: {self.reason} [{self.location}]. "
            f"Nothing was reset: fix it, or reset it with `manage.py collector_state reset "
            f"{target}` or the admin's reset action."
        )


class InvalidStateError(StateError, ValueError):
    """A state that cannot be saved (not JSON, or not what the collector's schema allows)."""


class CollectorBusyError(StateError):
    """Another run of the same collector holds its lock (``run_collector`` exits with 75)."""

    def __init__(
        self, name: str, holder: str = "", until: datetime | None = None, waited: float = 0
    ):
        self.name = name
        self.holder = holder
        self.until = until
        self.waited = waited
        held = f" by {holder}" if holder else ""
        lease = f" (lease until {until.isoformat()})" if until else ""
        after = f" after waiting {waited:.1f}s" if waited else ""
        super().__init__(f"collector {name!r} is being run{held}{lease}; gave up{after}")


class LockLostError(StateError):
    """This run's lease on its collector expired or was taken over: its saves are refused."""


@dataclass(frozen=True)
class StateRecord:
    """What a store knows about one stored state, without the state itself."""

    key: str
    collector: str
    config_digest: str
    version: int
    updated: datetime | None
    #: Where it lives (a table and key, a file path), for messages.
    location: str = ""
    #: Set when the record could not be read (a corrupt file): why.
    error: str = ""


def tag_state(state: Any, collector: str) -> tuple[Any, str]:
    """The state as tagged JSON data (``collector_app.state.tagged``: datetimes, dates,
    bytes, sets, tuples and tuple keys kept) and its JSON text; ``InvalidStateError`` naming
    the collector and the key path of what cannot be stored (NaN is refused)."""
    from .tagged import UntaggableError, to_tagged

    try:
        data = to_tagged(state)
        text = json.dumps(data, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    except (UntaggableError, TypeError, ValueError, RecursionError) as exc:
        raise InvalidStateError(
            f"the state of collector {collector!r} cannot be stored as JSON: {exc}"
        ) from exc
    return data, text


def encode_state(state: Any, collector: str) -> str:
    """The state's (tagged) JSON text, or ``InvalidStateError`` naming the collector."""
    return tag_state(state, collector)[1]


def decode_state(data: Any, key: str, location: str) -> Any:
    """The Python state of stored tagged JSON data; ``CorruptStateError`` for a bad tag."""
    from .tagged import from_tagged

    try:
        return from_tagged(data)
    except (TypeError, ValueError, AttributeError) as exc:
        raise CorruptStateError(key, location, f"a tagged value cannot be read: {exc}") from None


class BaseStateStore(ABC):
    """Subclass, implement the four abstract methods, register under the entry-point group
    ``collector_app.state_stores`` and run ``collector_app.state.contract`` against it."""

    name: ClassVar[str] = ""

    @abstractmethod
    def load(self, key: str) -> Any:
        """The stored value; ``NoState`` if none, ``CorruptStateError`` if unreadable."""

    @abstractmethod
    def save(self, key: str, state: Any, collector: str, digest: str) -> None:
        """Replace the value atomically and bump the version; ``InvalidStateError`` if not JSON."""

    @abstractmethod
    def reset(self, key: str) -> bool:
        """Forget the value (whatever its condition); whether there was one."""

    @abstractmethod
    def list(self) -> builtins.list[StateRecord]:
        """Every stored state's record, sorted by collector then key."""

    def info(self, key: str) -> StateRecord | None:
        """One record, or ``None`` (stores with an index should override this)."""
        return next((record for record in self.list() if record.key == key), None)

    def describe(self, key: str) -> str:
        """Where ``key`` lives, for error messages."""
        return f"{self.name or type(self).__name__} state store, key {key!r}"
