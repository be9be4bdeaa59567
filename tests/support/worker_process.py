"""Run one RQ worker in this process (used by the RQ tests), with settings overrides.

python -m tests.support.worker_process '{"burst": true, "triggers": {...}, ...}'
"""

from __future__ import annotations

import json
import os
import sys


def main() -> None:
    options = json.loads(sys.argv[1])
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
    import django

    django.setup()
    import django_rq
    from django.conf import settings
    from django.test.utils import override_settings

    triggers = {**settings.TRIGGERS, "RECOVERY_INTERVAL": 0, **options.get("triggers", {})}
    with override_settings(TRIGGERS=triggers, **options.get("settings", {})):
        worker = django_rq.get_worker(
            *options.get("queues", ["default"]),
            worker_class=options.get("worker_class", "triggers.worker.Worker"),
        )
        worker.work(
            burst=options.get("burst", True),
            with_scheduler=options.get("scheduler", False),
            max_idle_time=options.get("max_idle_time"),
            logging_level="WARNING",
        )


if __name__ == "__main__":
    main()
