"""The ``[schedule]`` section of a pipeline definition (flowbber's), and where it is used.

    [schedule]
    frequency = "10 seconds"   # or 10, "1m 30s", "2 hours"
    samples = 4                # optional: stop after this many passed runs
    start = 1735689600         # optional: epoch seconds of the first run
    stop_on_failure = false

``collect --schedule pipeline.toml`` runs it in the foreground with the in-process
``Scheduler``; ``collector_schedule import NAME`` turns the section of the pipeline named
``NAME`` (in ``COLLECTORS["PIPELINES"]``) into a ``PipelineSchedule`` run by RQ workers.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from ..exceptions import CollectorsError

KEYS = ("frequency", "samples", "start", "stop_on_failure")
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*([a-z]*)\s*,?\s*")
_UNITS = {
    **dict.fromkeys(("", "s", "sec", "secs", "second", "seconds"), 1.0),
    **dict.fromkeys(("ms", "millisecond", "milliseconds"), 0.001),
    **dict.fromkeys(("m", "min", "mins", "minute", "minutes"), 60.0),
    **dict.fromkeys(("h", "hr", "hrs", "hour", "hours"), 3600.0),
    **dict.fromkeys(("d", "day", "days"), 86400.0),
    **dict.fromkeys(("w", "week", "weeks"), 604800.0),
}


class ScheduleError(ValueError, CollectorsError):
    """A bad ``schedule`` section; ``key`` is the path of the bad value."""

    def __init__(self, key: str, message: str) -> None:
        self.key = key
        super().__init__(f"{key}: {message}")


@dataclass(frozen=True)
class ScheduleSpec:
    """What the section says: the arguments of ``Scheduler`` and of a ``PipelineSchedule``."""

    frequency: float
    samples: int | None = None
    start: float | None = None
    stop_on_failure: bool = False

    def scheduler_kwargs(self) -> dict[str, Any]:
        return {
            "frequency": self.frequency,
            "samples": self.samples,
            "start": self.start,
            "stop_on_failure": self.stop_on_failure,
        }


def parse_duration(value: Any, key: str = "schedule.frequency") -> float:
    """Seconds from a number or a text such as ``"10 seconds"``, ``"1m 30s"``, ``"2h"``."""
    if isinstance(value, bool):
        raise ScheduleError(key, f"must be seconds or a duration, not {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and value.strip():
        text, seconds, position = value.strip().lower(), 0.0, 0
        while position < len(text):
            match = _PART.match(text, position)
            if not match or match.group(2) not in _UNITS:
                raise ScheduleError(
                    key, f"{value!r} is not a duration (use 10, '10s', '10 seconds', '1h 30m')"
                )
            seconds += float(match.group(1)) * _UNITS[match.group(2)]
            position = match.end()
    else:
        raise ScheduleError(key, f"must be seconds or a duration, not {value!r}")
    if seconds <= 0:
        raise ScheduleError(key, f"must be positive, not {value!r}")
    return seconds


def parse_schedule(value: Any, path: str = "schedule") -> ScheduleSpec:
    """Validate a ``schedule`` section; errors name the key (``schedule.samples``)."""
    if not isinstance(value, Mapping):
        raise ScheduleError(path, f"must be a table of {', '.join(KEYS)}")
    unknown = sorted(set(value) - set(KEYS))
    if unknown:
        raise ScheduleError(f"{path}.{unknown[0]}", f"unknown key (known: {', '.join(KEYS)})")
    if "frequency" not in value:
        raise ScheduleError(f"{path}.frequency", "is required")
    frequency = parse_duration(value["frequency"], f"{path}.frequency")
    samples = value.get("samples")
    if samples is not None and (isinstance(samples, bool) or not isinstance(samples, int)):
        raise ScheduleError(f"{path}.samples", f"must be an integer, not {samples!r}")
    if samples is not None and samples < 1:
        raise ScheduleError(f"{path}.samples", f"must be at least 1, not {samples}")
    start = value.get("start")
    if start is not None and (
        isinstance(start, bool) or not isinstance(start, int | float) or start < 0
    ):
        raise ScheduleError(f"{path}.start", f"must be epoch seconds, not {start!r}")
    stop = value.get("stop_on_failure", False)
    if not isinstance(stop, bool):
        raise ScheduleError(f"{path}.stop_on_failure", f"must be true or false, not {stop!r}")
    return ScheduleSpec(frequency, samples, None if start is None else float(start), stop)


def import_schedule(pipeline: str, name: str | None = None) -> Any:
    """Create or update the ``PipelineSchedule`` ``name`` (default: the pipeline's name) from
    the ``schedule`` section of pipeline ``pipeline`` (a name in ``COLLECTORS["PIPELINES"]``),
    and arm it. Raises ``ScheduleError`` when the pipeline has no such section."""
    from ..models import PipelineSchedule
    from ..runs import named_pipeline
    from . import schedules

    spec = named_pipeline(pipeline).definition.schedule
    if spec is None:
        raise ScheduleError("schedule", f"pipeline {pipeline!r} has no [schedule] section")
    start = datetime.fromtimestamp(spec.start, UTC) if spec.start is not None else None
    schedule, _ = PipelineSchedule.objects.update_or_create(
        name=name or pipeline,
        defaults={
            "pipeline": pipeline,
            "frequency": spec.frequency,
            "cron": "",
            "samples": spec.samples,
            "start": start,
            "stop_on_failure": spec.stop_on_failure,
            "enabled": True,
        },
    )
    return schedules.arm(schedule)
