"""Changes to one instance's status and run records, checked against ``ALLOWED_TRANSITIONS``."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from .exceptions import InvalidStatusTransition
from .storable import storable_text
from .types import ALLOWED_TRANSITIONS, TaskInstance


def now() -> str:
    return datetime.now(UTC).isoformat()


def set_status(inst: TaskInstance, status: str) -> None:
    """Move ``inst`` to ``status`` and stamp the time, or refuse the transition."""
    if status not in ALLOWED_TRANSITIONS[inst.status]:
        raise InvalidStatusTransition(inst.name, inst.status, status)
    inst.status = status
    touch(inst.metadata, status)


def touch(metadata: dict[str, Any], status: str | None = None) -> None:
    """Stamp ``timestamps``: ``created`` once, ``lastModified`` and the new status each time."""
    stamp = now()
    timestamps = metadata.setdefault("timestamps", {})
    timestamps.setdefault("created", stamp)
    timestamps["lastModified"] = stamp
    if status:
        timestamps[status] = stamp


def require_status(inst: TaskInstance, status: str, action: str) -> None:
    if inst.status != status:
        raise InvalidStatusTransition(inst.name, inst.status, action)


def record_logs(inst: TaskInstance, records: list[dict[str, Any]]) -> None:
    """Append a run's log records; a new warning (or worse) reopens the instance's logs."""
    if not records:
        return
    records = [{**record, "message": storable_text(str(record["message"]))} for record in records]
    inst.metadata.setdefault("logs", []).extend(records)
    level = max(int(record["level"]) for record in records)
    inst.metadata["log_level"] = max(level, int(inst.metadata.get("log_level", 0)))
    if level >= logging.WARNING:
        inst.metadata["logs_resolved"] = False


def error_record(message: str) -> dict[str, Any]:
    """A log record at ERROR, for failures the engine itself records."""
    return {"level": logging.ERROR, "level_name": "ERROR", "message": message, "time": now()}
