"""Resolve pluggable classes by short name: built-ins, then entry points, then dotted paths."""

from __future__ import annotations

from importlib.metadata import entry_points
from typing import Any

from django.utils.module_loading import import_string

from .exceptions import UnknownBackendError


def entry_points_by_name(group: str) -> dict[str, list[Any]]:
    """Every entry point of ``group`` by name: all of them when two distributions declare one
    name (a registry that refuses such a clash can name both)."""
    found: dict[str, list[Any]] = {}
    for ep in entry_points(group=group):
        found.setdefault(ep.name, []).append(ep)
    return found


def entry_point_names(group: str) -> dict[str, Any]:
    """One entry point of ``group`` per name (the last one found when names clash)."""
    return {name: found[-1] for name, found in entry_points_by_name(group).items()}


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


class ClassRegistry:
    """Classes by key: built-ins, then an entry-point group, then dotted paths.

    The triggers framework's ``trigger_managers`` and ``storage_backends`` registries:
    ``registry.get(key, *args, **kwargs)`` builds an instance, ``registry[key]`` is the class,
    and the class's ``triggers__registry_key`` names the key it was found under.
    """

    attr_name = "triggers__registry_key"

    def __init__(self, kind: str, group: str, builtins: dict[str, str]) -> None:
        self.kind = kind
        self.group = group
        self.builtins = builtins

    def __getitem__(self, key: str) -> type:
        cls = resolve_class(self.kind, self.group, self.builtins, key)
        if getattr(cls, self.attr_name, None) is None:
            setattr(cls, self.attr_name, key)
        return cls

    def get(self, key: str, *args: Any, **kwargs: Any) -> Any:
        return self[key](*args, **kwargs)

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key in self.keys()

    def keys(self) -> list[str]:
        return _known(self.group, self.builtins)

    def __iter__(self) -> Any:
        return iter(self.keys())
