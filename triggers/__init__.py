"""Trigger sessions for Django: tasks that run once the triggers they wait for have fired."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .manager import TriggerManager
    from .task import TaskContext, TriggerTask, register_task

__all__ = ["TaskContext", "TriggerManager", "TriggerTask", "__version__", "register_task"]

_LAZY = {
    "TriggerManager": "triggers.manager",
    "TriggerTask": "triggers.task",
    "TaskContext": "triggers.task",
    "register_task": "triggers.task",
}


def __getattr__(name: str) -> Any:
    # Lazy so that listing "triggers" in INSTALLED_APPS imports no Django machinery early.
    if name == "__version__":  # the installed package's, read on first use (no I/O at import)
        from importlib.metadata import PackageNotFoundError, version

        try:
            return version("django-triggered-collectors")
        except PackageNotFoundError:  # a source tree that was never installed
            return "0+unknown"
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'triggers' has no attribute {name!r}")
