"""``make demo``: the session of ``settings/demo_session.toml`` run end to end by real workers.

Run with ``python -m settings.demo`` (after ``manage.py migrate``). It loads the session
configuration, fires ``start``, starts two burst RQ workers, shows the instances by status
while they work, and ends with every instance, the artifacts and tarballs produced, the
collector state saved and how to open the admin. A second run is incremental: the saved state
and the gathering checkpoints make it report and ship only what is new.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tomllib
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
django.setup()

from django.conf import settings  # noqa: E402

from collector_app.models import CollectorState, GatherCheckpoint  # noqa: E402
from triggers import TriggerManager  # noqa: E402
from triggers.types import TaskInstance  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CONFIG_FILE = ROOT / "settings" / "demo_session.toml"
WORKERS = 2
#: The instance that fails on purpose the first time (see the configuration file).
FAILS_ON_PURPOSE = "licences"


def start_workers() -> list[subprocess.Popen]:
    command = [sys.executable, "manage.py", "rqworker", "--burst", "--with-scheduler"]
    return [
        subprocess.Popen(
            [*command, "default", "low"],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for _ in range(WORKERS)
    ]


def progress(manager: TriggerManager) -> str:
    counts = Counter(inst.status for inst in manager.storage)
    return ", ".join(f"{status} {count}" for status, count in sorted(counts.items()))


def summary(instance: TaskInstance) -> str:
    """One line about an instance's result (or its error)."""
    if instance.status == "failed":
        return f"{instance.metadata.get('exc_type')}: {instance.metadata.get('exc_message')}"[:150]
    result = instance.result
    if not isinstance(result, dict):
        return "" if result is None else str(result)[:100]
    task = instance.name.split("#")[0]
    if task == "inventory":
        figures = result.get("summary", {})
        host = result.get("host", {})
        return (
            f"{figures.get('distributions', '?')} distributions, {figures.get('commits', '?')} "
            f"commits, host {host.get('hostname', '?')}, Python {host.get('python', '?')}"
        )
    if task == "compare":
        return (
            f"run {result['run']}: {len(result['new'])} new, {len(result['changed'])} changed, "
            f"{result['unchanged']} unchanged distributions; {result['new_commits']} new commits"
        )
    if task == "licences":
        return f"{result['declared']} declare a licence, {result['undeclared']} do not"
    if task == "gather":
        keys = ", ".join(f"{k['key']} {k['status']}" for k in result.get("keys", {}).values())
        return f"{result.get('status')}: {len(result.get('tarballs', []))} tarball(s); {keys}"
    return json.dumps(result)[:100]


def duration(instance: TaskInstance) -> str:
    seconds = instance.metadata.get("duration")
    return f"{seconds:.2f}" if isinstance(seconds, int | float) else "-"


def show_instances(manager: TriggerManager) -> None:
    print(f"\n{'instance':<13}{'status':<10}{'seconds':>8}  result")
    for instance in sorted(manager.storage, key=lambda inst: inst.created or ""):
        print(
            f"{instance.name:<13}{instance.status:<10}{duration(instance):>8}  {summary(instance)}"
        )


def show_artifacts(manager: TriggerManager) -> None:
    root = Path(settings.COLLECTORS["ARTIFACTS_ROOT"])
    latest = root / "latest"
    print("\nartifacts (the local recorder, COLLECTORS['ARTIFACTS_ROOT']):")
    if latest.exists():
        folder = latest.resolve()
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                extra = ""
                if path.name == "pushitems.jsonl":
                    extra = f"  ({sum(1 for _ in path.open())} push items)"
                print(f"  {path}  {path.stat().st_size:,} bytes{extra}")
    else:
        print("  none recorded")
    gather = _result(manager, "gather")
    outbox = Path(settings.COLLECTORS["GATHERERS"]["demo"]["shipping_directory"])
    print(f"\ntarballs (gathering collection 'demo', shipped to {outbox}):")
    tarballs = (gather or {}).get("tarballs", [])
    for tarball in tarballs:
        where = outbox / tarball["name"]
        state = "shipped" if tarball["shipped"] and where.exists() else "NOT shipped"
        print(f"  {where}  {tarball['size']:,} bytes uncompressed, {state}")
    if not tarballs:
        print("  none this run: nothing new to gather")


def show_incremental(manager: TriggerManager) -> None:
    compare = _result(manager, "compare")
    gather = _result(manager, "gather")
    print("\nincremental:")
    if compare is not None:
        if compare["run"] == 1:
            print("  first run: every distribution and commit is new")
        else:
            print(
                f"  run {compare['run']}: new distributions {compare['new'] or 'none'}, "
                f"changed {compare['changed'] or 'none'}, {compare['unchanged']} skipped as "
                f"unchanged; {compare['new_commits']} new commits"
            )
    packed = {key for tarball in (gather or {}).get("tarballs", []) for key in tarball["keys"]}
    for key in (gather or {}).get("keys", {}).values():
        window = f"window {key['since'][:19]} .. {key['until'][:19]}"
        if key["status"] == "ok" and key["key"] not in packed:
            what = f"nothing new in its {window} (skipped)"
        else:
            what = f"{key['status']}, {window}"
        print(f"  gather key {key['key']}: {what}")
    marks = GatherCheckpoint.objects.filter(collection="demo").exclude(key="__last_gather__")
    for mark in marks:
        print(
            f"  checkpoint {mark.key}: {mark.checkpoint:%Y-%m-%d %H:%M:%S} (next run starts there)"
        )


def show_state() -> None:
    print("\ncollector state saved (COLLECTORS['STATE_STORE'] = db):")
    for row in CollectorState.objects.filter(collector="demo-compare"):
        state = row.state or {}
        print(
            f"  {row.key}  version {row.version}: runs {state.get('runs')}, "
            f"{len(state.get('distributions', {}))} distributions, "
            f"{len(state.get('commits', []))} commits known"
        )
    print("  (python manage.py collector_state show demo-compare  shows it whole)")


def _result(manager: TriggerManager, task: str) -> dict[str, Any] | None:
    finished = [
        i for i in manager.storage if i.name.startswith(f"{task}#") and i.status == "finished"
    ]
    return finished[-1].result if finished else None


def main() -> int:
    with CONFIG_FILE.open("rb") as stream:
        configuration = tomllib.load(stream)
    uid = f"demo-{datetime.now(UTC):%Y%m%d-%H%M%S}"
    manager = TriggerManager.for_session(uid)
    manager.update_configuration(configuration)
    print(
        f"session {uid}: {len(configuration)} tasks from {CONFIG_FILE.relative_to(ROOT)} "
        f"(storage {manager.storage.name!r}, runner 'rq')"
    )
    print(f"firing 'start'; ready: {', '.join(manager.fire('start', {})) or 'nothing'}")
    workers = start_workers()
    print(f"started {len(workers)} burst workers: manage.py rqworker --burst --with-scheduler")
    last = ""
    while any(worker.poll() is None for worker in workers):
        line = progress(manager)
        if line != last:
            print(f"  {time.strftime('%H:%M:%S')}  {line}")
            last = line
        time.sleep(0.2)
    print(f"  {time.strftime('%H:%M:%S')}  {progress(manager)}  (workers done)")

    show_instances(manager)
    show_artifacts(manager)
    show_incremental(manager)
    show_state()

    failed = [inst for inst in manager.storage if inst.status == "failed"]
    unexpected = [inst.name for inst in failed if not inst.name.startswith(f"{FAILS_ON_PURPOSE}#")]
    for inst in failed:
        why = " on purpose (see settings/demo_session.toml)" if not unexpected else ""
        command = f".venv/bin/python manage.py triggers_replay {uid} {inst.name} --here"
        print(f"\n{inst.name} failed{why}. Replay it with:\n  {command}")
    print(
        "\nopen the admin: make admin   (creates the superuser 'demo', password 'demo', and "
        "runs the server on http://127.0.0.1:8000/admin/)"
    )
    unresolved = [inst.name for inst in manager.storage.get_unresolved_instances()]
    stuck = [name for name in unresolved if name not in {i.name for i in failed}]
    if unexpected or stuck:
        print(f"\nunexpected: failed {unexpected}, not finished {stuck}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
