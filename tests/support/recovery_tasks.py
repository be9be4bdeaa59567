"""Tasks and a process for the recovery tests (``tests.support.recovery_tasks.<name>``).

python -m tests.support.recovery_tasks <session uid> <storage> <lease timeout>: fires ``start``
into a configured session on the ``sync`` runner, in this process (the tests kill it mid-task).
"""

from __future__ import annotations

import math
import re
import sys
import threading
import time

from triggers.task import TaskContext

_BACKTRACKING = re.compile(r"(a+)+b")  # each more "a" doubles the time of a failed match


def hold_gil(context: TaskContext) -> dict:
    """Hold the GIL in single C calls (regex backtracking) for about ``start.seconds``.

    Returns the longest pause a daemon thread saw, which proves the GIL was held that long.
    """
    seconds = float(context.trigger_kwargs["start"]["seconds"])
    started = time.monotonic()
    _BACKTRACKING.match("a" * 22)
    base = max(time.monotonic() - started, 1e-4)
    length = 22 + max(0, math.floor(math.log2(seconds / base)))  # one call: seconds/2 .. seconds
    gaps = [0.0]
    done = threading.Event()

    def tick() -> None:
        last = time.monotonic()
        while not done.wait(0.05):
            now = time.monotonic()
            gaps.append(now - last)
            last = now

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        _BACKTRACKING.match("a" * length)
    done.set()
    ticker.join()
    return {"held": round(time.monotonic() - started, 1), "longest_pause": round(max(gaps), 1)}


def main() -> None:
    import os

    uid, storage, lease_timeout = sys.argv[1], sys.argv[2], float(sys.argv[3])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
    import django

    django.setup()
    from django.conf import settings
    from django.test.utils import override_settings

    from triggers import TriggerManager

    triggers = {**settings.TRIGGERS, "DEFAULT_RUNNER": "sync", "LEASE_TIMEOUT": lease_timeout}
    with override_settings(TRIGGERS=triggers):
        TriggerManager.for_session(uid, storage).fire("start", {"sleep": 60})


if __name__ == "__main__":
    main()
