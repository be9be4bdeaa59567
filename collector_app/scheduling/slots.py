"""When a schedule's runs are due: a fixed frequency from a start time, or a cron expression.

Frequencies make a grid (``start + k * frequency``), so a late run never drifts the slots
after it. Cron expressions (five fields, as crontab) are read by ``croniter``, which RQ
itself depends on, in the project's time zone.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta

from croniter import croniter
from django.utils import timezone

from ..exceptions import CollectorsError


class ScheduleError(ValueError, CollectorsError):
    """A schedule that cannot produce slots (no frequency and no cron, a bad cron, ...)."""


def validate_cron(expression: str) -> str:
    expression = " ".join(expression.split())
    if len(expression.split()) != 5 or not croniter.is_valid(expression):
        raise ScheduleError(
            f"cron {expression!r} is not a five-field cron expression (e.g. '*/15 * * * *')"
        )
    return expression


def next_slot(
    after: datetime,
    *,
    frequency: float | None = None,
    cron: str = "",
    start: datetime | None = None,
) -> datetime:
    """The first slot strictly after ``after`` and not before ``start``."""
    if bool(frequency) == bool(cron):
        raise ScheduleError("a schedule needs either a frequency or a cron expression")
    if frequency is not None and frequency <= 0:
        raise ScheduleError(f"frequency must be a positive number of seconds, not {frequency!r}")
    if start is not None and start > after:
        if frequency:
            return start
        after = start - timedelta(microseconds=1)  # start itself may be a cron slot
    if frequency:
        origin = start or after
        steps = math.floor((after - origin).total_seconds() / frequency) + 1
        slot = origin + timedelta(seconds=steps * frequency)
        while slot <= after:  # float rounding
            slot += timedelta(seconds=frequency)
        return slot
    local = timezone.localtime(after) if timezone.is_aware(after) else after
    return croniter(validate_cron(cron), local).get_next(datetime)
