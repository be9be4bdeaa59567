"""Reading the state files n6's ``StatefulCollectorMixin`` left behind, safely.

n6 pickles a collector's state into ``<state_dir>/<module>.<Class>.pickle``. Unpickling runs
whatever the file names, so the file is read by :class:`RestrictedUnpickler`, which only
builds builtin containers and scalars and ``datetime`` types; any other global (a class of
the collector, ``os.system``) is refused with :class:`LegacyStateError` naming the file and
the global, and nothing else is unpickled. The caller (the mixin's ``load_state``) converts
the result into the configured store; see docs/state.md, *Moving from n6*.
"""

from __future__ import annotations

import io
import os
import pickle
from pathlib import Path
from typing import Any

from ..exceptions import CollectorsError
from .base import StateError

SAFE_BUILTINS = frozenset(
    {"bool", "bytearray", "bytes", "complex", "dict", "float", "frozenset", "int", "list"}
    | {"range", "set", "slice", "str", "tuple"}
)
SAFE_DATETIME = frozenset({"date", "datetime", "time", "timedelta", "timezone"})
#: module -> the names a state file may refer to (``__builtin__``: Python 2 pickles).
ALLOWED_GLOBALS: dict[str, frozenset[str]] = {
    "builtins": SAFE_BUILTINS,
    "__builtin__": SAFE_BUILTINS,
    "datetime": SAFE_DATETIME,
}
_PROTOCOL_MARK = 0x80


class LegacyStateError(StateError):
    """An n6 state file that cannot be migrated; nothing was loaded, saved or reset."""

    def __init__(self, path: os.PathLike[str] | str, reason: str, collector: str = "") -> None:
        self.path = Path(path)
        self.reason = reason
        self.collector = collector
        super().__init__(path, reason, collector)

    def __str__(self) -> str:
        who = f"collector {self.collector!r}: " if self.collector else ""
        return (
            f"{who}the n6 state file {self.path} cannot be migrated: {self.reason}. Nothing "
            f"was loaded or saved: convert it yourself and call save_state(), or move the "
            f"file away to start from the default state."
        )


class DisallowedGlobalError(pickle.UnpicklingError, CollectorsError):
    """The pickle refers to a global outside :data:`ALLOWED_GLOBALS`."""

    def __init__(self, module: str, name: str) -> None:
        self.global_name = f"{module}.{name}"
        super().__init__(
            f"it refers to the global {self.global_name}, which is not allowed (only "
            f"builtin types and datetime types are unpickled)"
        )


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that builds builtin and ``datetime`` types and nothing else."""

    def find_class(self, module: str, name: str) -> Any:
        if name in ALLOWED_GLOBALS.get(module, ()):
            return super().find_class(module, name)  # maps Python 2's __builtin__
        raise DisallowedGlobalError(module, name)


def is_py2_pickle(data: bytes) -> bool:
    """Whether ``data`` starts like protocol 2, the protocol n6's Python 2 version used."""
    return len(data) >= 2 and data[0] == _PROTOCOL_MARK and data[1] == 2


def read_n6_state(path: Path, py2_load_kwargs: dict[str, Any] | None = None) -> Any:
    """The state pickled in ``path``; ``LegacyStateError`` if it is refused or unreadable.

    ``py2_load_kwargs`` (``encoding``, ``errors``) apply to a protocol 2 pickle, as n6's
    ``get_py2_pickle_load_kwargs()`` does.
    """
    data = path.read_bytes()
    kwargs = dict(py2_load_kwargs or {}) if is_py2_pickle(data) else {}
    try:
        return RestrictedUnpickler(io.BytesIO(data), **kwargs).load()
    except DisallowedGlobalError as exc:
        raise LegacyStateError(path, str(exc)) from None
    except Exception as exc:  # truncated, not a pickle, bad encoding: all mean "unreadable"
        raise LegacyStateError(
            path, f"it cannot be unpickled ({type(exc).__name__}: {exc})"
        ) from None
