"""``make demo``: a three-task chain fired into a fresh session and run by real RQ workers.

Run with ``python -m settings.demo`` (after ``manage.py migrate``). The session's tasks:

    measure   after: start      lists the Python files of this checkout
    summarise after: measure    counts them and sums their sizes
    report    after: summarise  turns the figures into one line of text

Each ready task is an RQ job; two ``rqworker --burst --with-scheduler`` processes run them and
exit when the queues are empty.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import uuid
from collections import Counter
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
django.setup()

from triggers import TriggerManager  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

CONFIGURATION = {
    "measure": {"after": ["start"], "run": "settings.demo_tasks.measure"},
    "summarise": {"after": ["measure"], "run": "settings.demo_tasks.summarise"},
    "report": {"after": ["summarise"], "run": "settings.demo_tasks.report"},
}
WORKERS = 2


def start_workers() -> list[subprocess.Popen]:
    command = [sys.executable, "manage.py", "rqworker", "--burst", "--with-scheduler"]
    return [
        subprocess.Popen([*command, "default", "low"], cwd=ROOT, stdout=subprocess.DEVNULL)
        for _ in range(WORKERS)
    ]


def progress(manager: TriggerManager) -> str:
    counts = Counter(inst.status for inst in manager.storage)
    return ", ".join(f"{status} {count}" for status, count in sorted(counts.items()))


def main() -> None:
    uid = f"demo-{uuid.uuid4().hex[:8]}"
    manager = TriggerManager.for_session(uid)
    manager.update_configuration(CONFIGURATION)
    print(f"session {uid} on storage {manager.storage.name!r}, runner 'rq'; firing 'start'")
    manager.fire("start", {"folders": ["triggers", "collector_app", "settings"]})
    workers = start_workers()
    print(f"started {len(workers)} burst workers: manage.py rqworker --burst --with-scheduler")
    last = ""
    while any(worker.poll() is None for worker in workers):
        line = progress(manager)
        if line != last:
            print(f"  progress: {line}")
            last = line
        time.sleep(0.2)
    print(f"  progress: {progress(manager)}")
    print(f"\n{'instance':<14}{'status':<11}{'seconds':>9}  result")
    for instance in sorted(manager.storage, key=lambda inst: inst.metadata.get("created", "")):
        result = instance.result
        if isinstance(result, dict) and "files" in result:
            result = {"files": f"<{len(result['files'])} paths>"}
        seconds = instance.metadata.get("duration")
        shown = f"{seconds:.3f}" if seconds is not None else "-"
        print(f"{instance.name:<14}{instance.status:<11}{shown:>9}  {result}")
    unresolved = manager.storage.get_unresolved_instances()
    if unresolved:
        raise SystemExit(f"unresolved instances left: {[inst.name for inst in unresolved]}")


if __name__ == "__main__":
    main()
