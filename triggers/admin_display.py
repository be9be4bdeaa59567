"""How the admin shows instances: folded JSON, durations with units, elapsed times, a timeline.

Kept apart from the views so that the session page, the instance page, the JSON endpoint and the
commands format times and payloads the same way. Nothing here reads a storage.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from .types import RESOLVED_STATUSES, TaskInstance

#: Instances per page of the session page (failed first, see ``STATUS_ORDER``).
PER_PAGE = 100
#: Characters of a kwargs / result shown folded on the session page.
PREVIEW_CHARS = 240
#: Characters of a kwargs / result shown on the instance page before "download".
INLINE_CHARS = 20_000
#: Order of the session page: what needs a look first.
STATUS_ORDER = {"failed": 0, "running": 1, "scheduled": 2, "unstarted": 3}
IN_FLIGHT = ("scheduled", "running")


def parse_time(value: Any) -> datetime | None:
    """An ISO timestamp as stored by the engine, or ``None`` when missing or unreadable."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def format_duration(seconds: float | None) -> str:
    """``0.066 s``, ``12.3 s``, ``4 min 05 s``, ``2 h 03 min``: always with a unit."""
    if seconds is None:
        return "-"
    seconds = max(float(seconds), 0.0)
    if seconds < 10:
        return f"{seconds:.3f} s"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes:02d} min"
    return f"{hours // 24} d {hours % 24} h"


def compact_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, separators=(", ", ": "))


def pretty_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str, indent=1)


def fold(value: Any, limit: int = PREVIEW_CHARS) -> dict[str, Any]:
    """A preview of a JSON value and whether it was cut (the page links to the full text)."""
    text = compact_json(value)
    return {
        "text": text[:limit] + ("…" if len(text) > limit else ""),
        "cut": len(text) > limit,
        "size": len(text),
    }


def sort_key(inst: TaskInstance) -> tuple[int, str, str]:
    """Failed first, then what is in flight or waiting, then the rest in creation order."""
    return (STATUS_ORDER.get(inst.status, 9), inst.metadata.get("created", ""), inst.name)


def status_since(inst: TaskInstance) -> str | None:
    """When the instance entered its current status (ISO), for the elapsed-time counters."""
    return inst.metadata.get("timestamps", {}).get(inst.status) or inst.metadata.get("created")


def elapsed(inst: TaskInstance, now: datetime | None = None) -> float | None:
    """Seconds in the current status, for instances still in flight."""
    if inst.status not in IN_FLIGHT:
        return None
    since = parse_time(status_since(inst))
    if since is None:
        return None
    return ((now or datetime.now(UTC)) - since).total_seconds()


def live_state(inst: TaskInstance) -> dict[str, Any]:
    """What the JSON endpoint sends about one instance: small whatever the payloads."""
    return {
        "name": inst.name,
        "status": inst.status,
        "since": status_since(inst),
        "duration": format_duration(inst.metadata.get("duration"))
        if inst.metadata.get("duration") is not None
        else None,
        "error": error_line(inst),
    }


def error_line(inst: TaskInstance) -> str | None:
    exc_type = inst.metadata.get("exc_type")
    if not exc_type or inst.status not in ("failed", "replayed", "skipped"):
        return None
    return f"{exc_type}: {inst.metadata.get('exc_message') or ''}".strip()


def summary_row(inst: TaskInstance, now: datetime) -> dict[str, Any]:
    """One row of the session page: everything small, payloads folded."""
    meta = inst.metadata
    return {
        "name": inst.name,
        "task": inst.task_name,
        "status": inst.status,
        "resolved": inst.status in RESOLVED_STATUSES,
        "since": status_since(inst),
        "elapsed": format_duration(elapsed(inst, now)) if inst.status in IN_FLIGHT else "",
        "duration": format_duration(meta.get("duration")),
        "kwargs": fold(inst.kwargs),
        "result": fold(inst.result) if inst.result is not None else None,
        "error": error_line(inst),
        "parent": inst.parent,
        "replayed_by": meta.get("replayed_by"),
        "depth": inst.depth,
        "n_logs": len(meta.get("logs", [])),
        "unresolved_logs": inst.has_unresolved_logs,
    }


def timeline(instances: list[TaskInstance], now: datetime) -> dict[str, Any] | None:
    """A Gantt chart of instance start and end, as percentages of the covered time span."""
    bars = []
    for inst in instances:
        stamps = inst.metadata.get("timestamps", {})
        start = parse_time(stamps.get("running"))
        if start is None:
            continue
        end = None
        for status in ("finished", "failed", "skipped", "replayed"):
            end = end or parse_time(stamps.get(status))
        bars.append((start, end or now, inst, end is None))
    if not bars:
        return None
    bars.sort(key=lambda bar: (bar[0], bar[2].name))
    first = min(bar[0] for bar in bars)
    last = max(bar[1] for bar in bars)
    span = max((last - first).total_seconds(), 0.001)
    rows = []
    for start, end, inst, open_ended in bars:
        left = (start - first).total_seconds() / span * 100
        width = max((end - start).total_seconds() / span * 100, 0.4)
        rows.append(
            {
                "name": inst.name,
                "status": inst.status,
                "left": f"{min(left, 99.6):.2f}",
                "width": f"{min(width, 100 - min(left, 99.6)):.2f}",
                "label": format_duration((end - start).total_seconds())
                + (" so far" if open_ended else ""),
            }
        )
    return {"rows": rows, "start": first, "span": format_duration(span)}
