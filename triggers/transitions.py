"""Compatibility names: status changes are ``TaskInstance`` methods now (``triggers.types``).

Kept so that code importing ``triggers.transitions`` keeps working; new code calls
``inst.set_status(...)``, ``inst.touch()``, ``inst.require_status(...)``, ``inst.record_logs(...)``.
"""

from __future__ import annotations

from typing import Any

from .outcomes import error_record
from .types import TaskInstance, now

__all__ = ["error_record", "now", "record_logs", "require_status", "set_status", "touch"]


def set_status(inst: TaskInstance, status: str) -> None:
    """Move ``inst`` to ``status`` and stamp the time, or refuse the transition."""
    inst.set_status(status)


def touch(metadata: dict[str, Any], status: str | None = None) -> None:
    """Stamp the ``timestamps`` of an instance's ``metadata`` dict."""
    TaskInstance(name="_#0", task_name="_", metadata=metadata).touch(status)


def require_status(inst: TaskInstance, status: str, action: str) -> None:
    inst.require_status(status, action)


def record_logs(inst: TaskInstance, records: list[dict[str, Any]]) -> None:
    inst.record_logs(records)
