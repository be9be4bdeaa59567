"""How the ``cache`` storage writes one instance record, compactly, and reads both formats.

Written: ``{"s": status, "k": kwargs, "m": metadata}`` (empty parts left out), with the
timestamps of ``metadata["timestamps"]`` as integer microseconds since the epoch when that
turns back into exactly the same ISO text. The name is not stored (the record's key names the
instance), nor the task name when the name implies it. Read: that, or the full
``TaskInstance.to_dict()`` layout of records written before (recognised by its ``name`` key),
so stored sessions stay readable.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ..configuration import dumps
from ..types import TaskInstance, task_name_of

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TIMESTAMPS = TaskInstance.META_TIMESTAMPS


def _micros(text: Any) -> Any:
    """``text`` as microseconds since the epoch, if that converts back to the same text."""
    if not isinstance(text, str):
        return text
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return text
    if when.tzinfo is None:
        return text
    micros = (when - EPOCH) // timedelta(microseconds=1)
    return micros if _iso(micros) == text else text


def _iso(micros: Any) -> Any:
    if isinstance(micros, int) and not isinstance(micros, bool):
        return (EPOCH + timedelta(microseconds=micros)).isoformat()
    return micros


def encode_instance(instance: TaskInstance) -> str:
    """The JSON text stored for ``instance``."""
    metadata = instance.metadata
    stamps = metadata.get(TIMESTAMPS)
    if isinstance(stamps, dict) and stamps:
        metadata = {**metadata, TIMESTAMPS: {k: _micros(v) for k, v in stamps.items()}}
    record: dict[str, Any] = {"s": instance.status}
    if task_name_of(instance.name) != instance.task_name:
        record["t"] = instance.task_name
    if instance.kwargs:
        record["k"] = instance.kwargs
    if metadata:
        record["m"] = metadata
    return dumps(record)


def decode_instance(name: str, data: dict[str, Any]) -> TaskInstance:
    """The instance stored under ``name`` as ``data`` (either format)."""
    if "name" in data:  # written before the compact format
        return TaskInstance.from_dict(data)
    metadata = dict(data.get("m") or {})
    stamps = metadata.get(TIMESTAMPS)
    if isinstance(stamps, dict):
        metadata[TIMESTAMPS] = {k: _iso(v) for k, v in stamps.items()}
    task_name = data.get("t") or task_name_of(name)
    return TaskInstance(name, task_name, data["s"], dict(data.get("k") or {}), metadata)
