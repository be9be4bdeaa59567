"""Resolve pluggable classes by short name: built-ins, then entry points, then dotted paths."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from django.utils.module_loading import import_string

from .exceptions import UnknownBackendError


def entry_point_names(group: str) -> dict[str, Any]:
    return {ep.name: ep for ep in entry_points(group=group)}


def resolve_class(kind: str, group: str, builtins: dict[str, str], name: str) -> type:
    """Find the class called ``name``; the error lists every name that would have worked."""
    if not isinstance(name, str) or not name:
        raise UnknownBackendError(kind, str(name), _known(group, builtins), "empty name")
    if name in builtins:
        return import_string(builtins[name])
    plugins = entry_point_names(group)
    if name in plugins:
        try:
            return plugins[name].load()
        except Exception as exc:
            raise UnknownBackendError(
                kind, name, _known(group, builtins), f"entry point failed to load: {exc}"
            ) from exc
    if "." in name:
        try:
            return import_string(name)
        except ImportError as exc:
            raise UnknownBackendError(kind, name, _known(group, builtins), str(exc)) from exc
    raise UnknownBackendError(kind, name, _known(group, builtins))


def _known(group: str, builtins: dict[str, str]) -> list[str]:
    return sorted(set(builtins) | set(entry_point_names(group)))
