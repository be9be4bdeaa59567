"""Runners registry: built-ins, then the ``triggers.runners`` entry points, then dotted paths."""

from __future__ import annotations

from ..conf import triggers_setting
from ..plugins import resolve_class
from .base import BaseRunner

BUILTIN_RUNNERS: dict[str, str] = {
    "sync": "triggers.runners.sync.SyncRunner",
    "rq": "triggers.rq.runner.RQRunner",
}


def get_runner_class(name: str | None = None) -> type[BaseRunner]:
    cls = resolve_class(
        "runner", "triggers.runners", BUILTIN_RUNNERS, name or triggers_setting("DEFAULT_RUNNER")
    )
    if not (isinstance(cls, type) and issubclass(cls, BaseRunner)):
        raise TypeError(f"runner {name!r} resolves to {cls!r}, not a BaseRunner subclass")
    return cls


def get_runner(name: str | None = None) -> BaseRunner:
    return get_runner_class(name)()


__all__ = ["BUILTIN_RUNNERS", "BaseRunner", "get_runner", "get_runner_class"]
