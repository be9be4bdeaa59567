"""A separate OS process that fires triggers into a session (used by test_concurrency).

python -m tests.support.fire_worker <session uid> <worker index> <count> <start at (epoch s)>
"""

from __future__ import annotations

import os
import sys
import time


def main() -> None:
    uid, index, count, start_at = (
        sys.argv[1],
        int(sys.argv[2]),
        int(sys.argv[3]),
        float(sys.argv[4]),
    )
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
    import django

    django.setup()
    from django.test.utils import override_settings

    from triggers import TriggerManager

    manager = TriggerManager.for_session(uid)
    delay = start_at - time.time()
    if delay > 0:
        time.sleep(delay)  # start together, so the writers really overlap
    with override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync"}):
        for i in range(count):
            manager.fire("tick", {"worker": index, "i": i})
    print(f"worker {index} fired {count}")


if __name__ == "__main__":
    main()
