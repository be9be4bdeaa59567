"""Which recorder backend a name means: run-time registrations, then ``triggers.plugins``
(built-ins, entry points, dotted paths), the lookup every plugin kind uses.

Built-in and entry-point backends (group ``collector_app.recorders``) are known by name
without registering; :func:`register_backend` adds or overrides names for this process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from triggers import plugins
from triggers.exceptions import UnknownBackendError

from ..conf import collectors_setting
from .base import django_configured

ENTRY_POINT_GROUP = "collector_app.recorders"
BUILTIN_BACKENDS: dict[str, str] = {
    "local": "collector_app.recording.local.LocalCollector",
    "dummy": "collector_app.recording.dummy.DummyCollector",
    "db": "collector_app.recording.db.DatabaseCollector",
}

Factory = Callable[[], Any]

_lock = threading.RLock()
_registered: dict[str, Factory] = {}
_default: str | None = None


def _entry_points() -> dict[str, Any]:
    return plugins.entry_point_names(ENTRY_POINT_GROUP)


def known_backends() -> list[str]:
    """Every name :func:`resolve` accepts, for error messages and docs."""
    with _lock:
        registered = set(_registered)
    return sorted(registered | set(BUILTIN_BACKENDS) | set(_entry_points()))


def _check_name(name: object) -> str:
    if not isinstance(name, str) or not name:
        raise TypeError(f"a backend name must be a non-empty str, got {name!r}")
    return name


def _unknown(name: str, reason: str = "") -> ValueError:
    known = ", ".join(known_backends())
    detail = f" ({reason})" if reason else ""
    return ValueError(f"no recorder backend named {name!r}{detail}; known backends: {known}")


def default_backend() -> str:
    """``set_default_backend``'s choice, else ``COLLECTORS["RECORDER"]`` (``local`` in a
    plain script with no Django settings)."""
    with _lock:
        chosen = _default
    if chosen:
        return chosen
    return collectors_setting("RECORDER") if django_configured() else "local"


def resolve(name: str | None = None) -> Factory:
    """The factory behind ``name`` (the default backend when ``None``)."""
    name = _check_name(default_backend() if name is None else name)
    with _lock:
        factory = _registered.get(name)
    if factory is not None:
        return factory
    try:  # the same lookup as every other plugin kind: built-ins, entry points, dotted paths
        return plugins.resolve_class("recorder backend", ENTRY_POINT_GROUP, BUILTIN_BACKENDS, name)
    except UnknownBackendError as exc:
        raise _unknown(name, _reason(exc)) from exc


def _reason(exc: UnknownBackendError) -> str:
    """Why ``triggers.plugins`` found no class, in this module's words."""
    cause = exc.__cause__
    if cause is None:
        return ""
    if isinstance(cause, ImportError) and "." in exc.name:
        return str(cause)
    return f"its entry point failed to load: {cause}"


def register_backend(name: str, factory: Factory | None) -> None:
    """Make ``name`` build backends with ``factory`` in this process; ``None`` removes the
    registration (a built-in or entry-point backend of that name is then found again) and,
    if ``name`` was the default, resets the default to the setting."""
    global _default
    name = _check_name(name)
    if factory is not None and not callable(factory):
        raise TypeError(f"a backend factory must be callable or None, got {factory!r}")
    with _lock:
        if factory is None:
            _registered.pop(name, None)
            if _default == name:
                _default = None
        else:
            _registered[name] = factory


def set_default_backend(name: str | None) -> None:
    """The backend ``get()`` uses without a name; ``None`` goes back to the setting."""
    global _default
    if name is None:
        with _lock:
            _default = None
        return
    resolve(name)  # an unknown name fails here, not at the next get()
    with _lock:
        _default = name
