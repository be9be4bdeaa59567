"""Time windows: the ``since`` / ``until`` a gather covers, per key, and slices of them.

Rules (the seed's, minus its silent surprises):

* ``until`` defaults to now and is never in the future (a later one is clamped to now).
* A window is at most ``horizon`` long (four weeks by default): an explicit ``since`` with no
  ``until`` ends at ``min(since + horizon, now)``; an explicit pair longer than the horizon ends
  at ``since + horizon`` (the rest is gathered by the next run).
* ``since >= until`` after clamping is an ``InvertedWindowError``, raised before any work.
* A window starts at ``EARLIEST`` (1970-01-01 UTC) or later: tarballs carry their window's
  times, which cannot be earlier. An earlier one is a ``WindowError`` naming the window.
* Without an explicit ``since`` each key starts at its checkpoint (else the collection's last
  gather), never earlier than ``until - horizon``; a key whose full sync is due starts at
  ``until - horizon``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from ..exceptions import CollectorsError

logger = logging.getLogger("collector_app.gathering")

DEFAULT_HORIZON = timedelta(weeks=4)
#: The earliest time a window may start or end at (tarball and gzip times start there).
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)


class WindowError(ValueError, CollectorsError):
    """A ``since`` / ``until`` that cannot be used."""


class InvertedWindowError(WindowError):
    """``since`` is not before ``until``."""


@dataclass(frozen=True)
class Window:
    since: datetime
    until: datetime

    def __str__(self) -> str:
        return f"{self.since.isoformat()} .. {self.until.isoformat()}"


def aware(value: datetime | str | None, what: str) -> datetime | None:
    """``value`` as an aware datetime; strings are ISO dates or datetimes (naive = current tz)."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        parsed = parse_datetime(value)
        if parsed is None:
            day = parse_date(value)
            if day is None:
                raise WindowError(
                    f"{what} {value!r} is not an ISO date or datetime (e.g. 2026-11-23 or "
                    "2026-11-23T12:00:00+00:00)"
                )
            parsed = datetime(day.year, day.month, day.day)
        value = parsed
    if not isinstance(value, datetime):
        raise WindowError(f"{what} must be a datetime, not {type(value).__name__}")
    if timezone.is_naive(value):
        value = timezone.make_aware(value)
    return value


def resolve(
    since: datetime | None,
    until: datetime | None,
    *,
    now: datetime,
    horizon: timedelta = DEFAULT_HORIZON,
) -> tuple[datetime | None, datetime]:
    """The run's ``(since, until)``: ``since`` stays ``None`` when it was not given."""
    if horizon <= timedelta(0):
        raise WindowError(f"the horizon must be positive, not {horizon}")
    if until is not None and until > now:
        logger.warning("until %s is in the future; using now (%s)", until.isoformat(), now)
        until = now
    if since is not None:
        if since >= now:
            raise InvertedWindowError(
                f"since {since.isoformat()} is not before now ({now.isoformat()}): "
                "there is nothing to gather yet"
            )
        if until is None:
            until = min(since + horizon, now)
        elif until > since + horizon:
            logger.warning(
                "window %s .. %s is longer than the horizon (%s); ending it at %s",
                since.isoformat(),
                until.isoformat(),
                horizon,
                (since + horizon).isoformat(),
            )
            until = since + horizon
    if until is None:
        until = now
    for what, when in (("since", since), ("until", until)):
        if when is not None and when < EARLIEST:
            shown = f"{since.isoformat() if since else '(checkpoints)'} .. {until.isoformat()}"
            raise WindowError(
                f"window {shown}: {what} {when.isoformat()} is before {EARLIEST.isoformat()}, "
                f"the earliest time a window can cover"
            )
    if since is not None and since >= until:
        raise InvertedWindowError(
            f"since {since.isoformat()} is not before until {until.isoformat()}"
        )
    return since, until


def key_window(
    *,
    since: datetime | None,
    until: datetime,
    checkpoint: datetime | None,
    last_gather: datetime | None,
    horizon: timedelta,
    full_sync: bool,
) -> Window:
    """The window of one key (it may be empty: ``since >= until``, nothing new)."""
    if since is not None:
        return Window(since, until)
    start = until - horizon
    if full_sync:
        return Window(start, until)
    return Window(max(checkpoint or last_gather or start, start), until)


def full_sync_due(
    last_full_sync: datetime | None, interval_days: float | None, until: datetime
) -> bool:
    """Whether a key with ``full_sync_interval_days`` must gather its whole horizon again."""
    if interval_days is None:
        return False
    return last_full_sync is None or until - last_full_sync >= timedelta(days=interval_days)


def slice_every(step: timedelta) -> Callable[..., list[tuple[datetime, datetime]]]:
    """A slicing function cutting a window into consecutive ``step``-long slices (the last
    one shorter); use as ``@register(..., fnc_slicing=slice_every(timedelta(days=1)))``."""
    if step <= timedelta(0):
        raise WindowError(f"a slice step must be positive, not {step}")

    def slicing(since: datetime, until: datetime, **_: object) -> list[tuple[datetime, datetime]]:
        slices = []
        start = since
        while start < until:
            end = min(start + step, until)
            slices.append((start, end))
            start = end
        return slices

    slicing.__name__ = f"slice_every_{int(step.total_seconds())}s"
    return slicing


daily_slices = slice_every(timedelta(days=1))


def check_slices(key: str, window: Window, slices: Iterable[object]) -> list[Window]:
    """The slices a slicing function returned, checked: ordered, non-overlapping, inside the
    window. A bad slicing function fails its key with an error saying which slice is wrong."""
    checked: list[Window] = []
    for index, item in enumerate(slices):
        try:
            pair: Any = item  # anything a slicing function returned: unpacking checks it
            first, last = pair
        except (TypeError, ValueError):
            raise WindowError(
                f"slicing function of {key!r} returned {item!r} at position {index}, "
                "not a (since, until) pair"
            ) from None
        since, until = aware(first, "slice since"), aware(last, "slice until")
        assert since is not None and until is not None
        if since >= until:
            raise WindowError(f"slice {index} of {key!r} is inverted: {since} .. {until}")
        if since < window.since or until > window.until:
            raise WindowError(f"slice {index} of {key!r} ({since} .. {until}) is outside {window}")
        if checked and since < checked[-1].until:
            raise WindowError(
                f"slice {index} of {key!r} starts at {since}, before the previous slice ends"
            )
        checked.append(Window(since, until))
    return checked
