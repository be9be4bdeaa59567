"""``Scheduler``: run a pipeline on a schedule in a plain process (the flowbber API).

    scheduler = Scheduler(pipeline, frequency=60, samples=10)
    scheduler.run()       # returns after 10 passed runs
    scheduler.runs        # {"passed": 10, "failed": 0, "missed": 2}

Slots are ``start + k * frequency``, timed on the monotonic clock. A run still going when its
next slot comes counts that slot as missed, and the missed run starts right after the one in
progress; the slots after stay on the grid. For production, schedules are rows
(``PipelineSchedule``) run as RQ jobs: see ``collector_app.schedules``.
"""

from __future__ import annotations

import math
import threading
import time
from typing import Any, Protocol


class Runnable(Protocol):
    def run(self) -> Any: ...


class Scheduler:
    def __init__(
        self,
        pipeline: Runnable,
        frequency: float,
        samples: int | None = None,
        start: float | None = None,
        stop_on_failure: bool = False,
    ) -> None:
        if isinstance(frequency, bool) or not isinstance(frequency, int | float) or frequency <= 0:
            raise ValueError(f"frequency must be a positive number of seconds, not {frequency!r}")
        if samples is not None and (
            isinstance(samples, bool) or int(samples) != samples or samples < 1
        ):
            raise ValueError(f"samples must be a positive integer or None, not {samples!r}")
        if start is not None and start <= time.time():
            raise ValueError(f"start must be a timestamp in the future, not {start!r}")
        self.pipeline = pipeline
        self.frequency = float(frequency)
        self.samples = samples
        self.start = start
        self.stop_on_failure = stop_on_failure
        self._runs = {"passed": 0, "failed": 0, "missed": 0}
        self._last_run: float | None = None
        self._stopped = threading.Event()

    @property
    def runs(self) -> dict[str, int]:
        """Passed, failed and missed runs so far (a copy)."""
        return dict(self._runs)

    @property
    def last_run(self) -> float | None:
        """When the last run started, in seconds since the epoch."""
        return self._last_run

    def stop(self) -> None:
        """Stop after the run in progress (from another thread or a signal handler)."""
        self._stopped.set()

    def run(self) -> None:
        """Run until ``samples`` passed runs, a failure with ``stop_on_failure``, or ``stop()``.

        Waiting is timed on the monotonic clock: a step of the wall clock (NTP, a suspended
        VM, a manual change) neither stalls the loop nor counts a day of missed runs. Only
        ``start`` is read on the wall clock, once, when the loop begins.
        """
        now = time.monotonic()
        slot = now + max(0.0, self.start - time.time()) if self.start is not None else now
        due = slot
        while not self._stopped.is_set():
            if self.samples is not None and self._runs["passed"] >= self.samples:
                return
            if self._stopped.wait(max(0.0, due - time.monotonic())):
                return
            self._last_run = time.time()
            passed = _passed(self.pipeline.run())
            self._runs["passed" if passed else "failed"] += 1
            if not passed and self.stop_on_failure:
                return
            ended = time.monotonic()
            slot += self.frequency
            missed = 0
            if slot <= ended:  # slots that came while the run was going
                missed = math.floor((ended - slot) / self.frequency) + 1
                slot += missed * self.frequency
                while slot <= ended:  # float rounding
                    missed += 1
                    slot += self.frequency
            self._runs["missed"] += missed
            due = ended if missed else slot  # a missed run starts right away


def _passed(result: Any) -> bool:
    if hasattr(result, "passed"):
        return bool(result.passed)
    return result is not False
