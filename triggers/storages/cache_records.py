"""How the ``cache`` storage writes one instance record, compactly, and reads every layout.

Written (issue 18: every byte is paid once per instance in Redis)::

    {"s": status, "t": task (only when the name does not imply it), "k": kwargs,
     "T": {"c": created µs since the epoch, <stamp code>: µs after "c", "l": <code>},
     "r": runner, "q": rq_queue, "d": duration, "x": result, "a": cascaded,
     "j": 1 (the RQ job id is the one ``job_id_for`` derives), "m": the rest of the metadata}

Timestamps move to ``"T"`` (one letter per stamp name, ``STAMP_CODES``) only when their ISO
text converts back exactly; ``lastModified`` equal to another stamp is written as that stamp's
code. Parts that are absent stay absent, so a record reads back exactly as written. Read: that,
the first compact layout (``{"s", "t", "k", "m"}`` with absolute integer stamps inside
``m.timestamps``, no ``"T"``) and the full ``TaskInstance.to_dict()`` layout (recognised by its
``name`` key), so stored sessions stay readable.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from ..configuration import dumps
from ..types import TaskInstance, task_name_of

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
TIMESTAMPS = TaskInstance.META_TIMESTAMPS
JOB_ID = "rq_job_id"
#: Metadata the engine writes on most instances -> its one-letter record key.
SHORT_META = {"runner": "r", "rq_queue": "q", "duration": "d", "result": "x", "cascaded": "a"}
#: Stamp name -> its one-letter code inside ``"T"``.
STAMP_CODES = {
    "created": "c",
    "lastModified": "l",
    "unstarted": "u",
    "scheduled": "s",
    "running": "r",
    "finished": "f",
    "failed": "e",
    "skipped": "k",
    "replayed": "p",
    "abandoned": "a",
}
STAMP_NAMES = {code: name for name, code in STAMP_CODES.items()}


def _micros(text: Any) -> int | None:
    """``text`` as microseconds since the epoch, if that converts back to the same text."""
    if not isinstance(text, str):
        return None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        return None
    if when.tzinfo is None:
        return None
    micros = (when - EPOCH) // timedelta(microseconds=1)
    return micros if _iso(micros) == text else None


def _iso(micros: Any) -> Any:
    if isinstance(micros, int) and not isinstance(micros, bool):
        return (EPOCH + timedelta(microseconds=micros)).isoformat()
    return micros


def _job_id(storage: str, uid: str, name: str) -> str:
    from ..rq.watch import job_id_for  # the rq package imports the storages, not the reverse

    return job_id_for(storage, uid, name)


def _compact_stamps(stamps: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``stamps`` split into the ``"T"`` part and what stays as it is."""
    micros = {name: _micros(value) for name, value in stamps.items()}
    compact: dict[str, Any] = {}
    rest: dict[str, Any] = {}
    base = micros.get("created")
    if base is not None:
        compact["c"] = base
    for name, value in stamps.items():
        code, when = STAMP_CODES.get(name), micros[name]
        if code is None or when is None:
            rest[name] = value
        elif code != "c" and code != "l":
            compact[code] = when - (base or 0)
    last = micros.get("lastModified")
    if last is not None:
        same = [STAMP_CODES[n] for n, w in micros.items() if w == last and n != "lastModified"]
        same = [code for code in same if code in compact]
        compact["l"] = same[-1] if same else last - (base or 0)
    return compact, rest


def _expand_stamps(compact: dict[str, Any]) -> dict[str, Any]:
    base = compact.get("c") or 0
    stamps: dict[str, Any] = {}
    for code, value in compact.items():
        if not isinstance(value, str):
            stamps[STAMP_NAMES[code]] = _iso(value if code == "c" else base + value)
    for code, value in compact.items():
        if isinstance(value, str):
            stamps[STAMP_NAMES[code]] = stamps[STAMP_NAMES[value]]
    return stamps


def encode_instance(instance: TaskInstance, uid: str | None = None, storage: str = "cache") -> str:
    """The JSON text stored for ``instance`` (of session ``uid`` of the ``storage`` backend:
    with them, an RQ job id that ``job_id_for`` derives is not stored)."""
    metadata = dict(instance.metadata)
    record: dict[str, Any] = {"s": instance.status}
    if task_name_of(instance.name) != instance.task_name:
        record["t"] = instance.task_name
    if instance.kwargs:
        record["k"] = instance.kwargs
    for long, short in SHORT_META.items():
        if long in metadata:
            record[short] = metadata.pop(long)
    job_id = metadata.get(JOB_ID)
    if uid is not None and job_id and job_id == _job_id(storage, uid, instance.name):
        del metadata[JOB_ID]
        record["j"] = 1
    stamps = metadata.get(TIMESTAMPS)
    if isinstance(stamps, dict) and stamps:
        record["T"], rest = _compact_stamps(stamps)
        if rest:
            metadata[TIMESTAMPS] = rest
        else:
            del metadata[TIMESTAMPS]
    if metadata:
        record["m"] = metadata
    return dumps(record)


def decode_instance(
    name: str, data: dict[str, Any], uid: str | None = None, storage: str = "cache"
) -> TaskInstance:
    """The instance stored under ``name`` as ``data`` (any layout)."""
    if "name" in data:  # written before the compact format
        return TaskInstance.from_dict(data)
    metadata = dict(data.get("m") or {})
    stamps = metadata.get(TIMESTAMPS)
    if "T" in data:
        metadata[TIMESTAMPS] = {**(stamps or {}), **_expand_stamps(data["T"])}
    elif isinstance(stamps, dict):  # the first compact layout: absolute integer stamps
        metadata[TIMESTAMPS] = {k: _iso(v) for k, v in stamps.items()}
    for long, short in SHORT_META.items():
        if short in data:
            metadata[long] = data[short]
    if data.get("j"):
        if uid is None:
            raise ValueError(f"instance {name!r}: its RQ job id is derived from the session uid")
        metadata[JOB_ID] = _job_id(storage, uid, name)
    task_name = data.get("t") or task_name_of(name)
    return TaskInstance(name, task_name, data["s"], dict(data.get("k") or {}), metadata)
