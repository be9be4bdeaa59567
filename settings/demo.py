"""``make demo``: the session of ``settings/demo_session.toml`` run end to end by real workers.

Run with ``python -m settings.demo`` (after ``manage.py migrate``). It loads the session
configuration, fires ``start``, starts two burst RQ workers, shows the instances by status
while they work, and ends with every instance, the artifacts and tarballs produced, the
collector state saved and the admin pages of the session. A second run is incremental: the
saved state and the gathering checkpoints make it record and ship only what is new.

``python -m settings.demo --check-database`` only checks that the database answers (the
Makefile runs it before ``migrate``), printing one line that says how to create a missing one.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
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
from django.db import OperationalError, connection  # noqa: E402
from django.urls import reverse  # noqa: E402

from collector_app.models import CollectorState, GatherCheckpoint  # noqa: E402
from triggers import TriggerManager  # noqa: E402
from triggers.models import TriggerSession  # noqa: E402
from triggers.types import TaskInstance  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CONFIG_FILE = ROOT / "settings" / "demo_session.toml"
WORKERS = 2
#: The task whose first attempt fails on purpose in every session (see the configuration file).
FAILS_ON_PURPOSE = "licences"
#: Where the result column starts in the instance table, and how wide lines may get.
RESULT_COLUMN, WIDTH = 33, 100


def database_problem() -> str | None:
    """One line when the database does not answer (the command that creates a missing one)."""
    try:
        connection.ensure_connection()
    except OperationalError as exc:
        db = connection.settings_dict
        name, host, port = db["NAME"], db.get("HOST") or "localhost", db.get("PORT") or "5432"
        cause = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
        if f'database "{name}" does not exist' in str(exc) and connection.vendor == "postgresql":
            user = f" -U {db['USER']}" if db.get("USER") else ""
            return (
                f"database {name!r} (DATABASE_URL) does not exist on {host}:{port}; create it "
                f"with: createdb -h {host} -p {port}{user} {name}"
            )
        return f"cannot connect to database {name!r} (DATABASE_URL) on {host}:{port}: {cause}"
    return None


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
        return f"{instance.metadata.get('exc_type')}: {instance.metadata.get('exc_message')}"
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
        undeclared = len(result["undeclared"])
        return (
            f"approved by the replay {result['approved_by']}: {result['distributions']} "
            f"distributions under {len(result['licences'])} licences, {undeclared} without one"
        )
    if task == "report":
        return str(result.get("line", ""))
    if task == "gather":
        tarballs = result.get("tarballs", [])
        packed = {key for tarball in tarballs for key in tarball["keys"]}

        def outcome(key: dict[str, Any]) -> str:
            if key["key"] in packed:
                return "packed"
            return "nothing new" if key["status"] in {"ok", "skipped"} else key["status"]

        keys = ", ".join(f"{k['key']} {outcome(k)}" for k in result.get("keys", {}).values())
        return f"{result.get('status')}: {len(tarballs)} tarball(s); {keys}"
    return json.dumps(result)[:100]


def duration(instance: TaskInstance) -> str:
    seconds = instance.metadata.get("duration")
    return f"{seconds:.2f}" if isinstance(seconds, int | float) else "-"


def show_instances(manager: TriggerManager) -> None:
    print(f"\n{'instance':<13}{'status':<10}{'seconds':>8}  result")
    for instance in sorted(manager.storage, key=lambda inst: inst.created or ""):
        lines = textwrap.wrap(summary(instance), WIDTH - RESULT_COLUMN) or [""]
        print(f"{instance.name:<13}{instance.status:<10}{duration(instance):>8}  {lines[0]}")
        for line in lines[1:]:  # whole messages, wrapped, never cut
            print(f"{'':<{RESULT_COLUMN}}{line}")


def show_artifacts(manager: TriggerManager, started: datetime) -> None:
    root = Path(settings.COLLECTORS["ARTIFACTS_ROOT"])
    latest = root / "latest"
    print("\nartifacts of this run (the local recorder, COLLECTORS['ARTIFACTS_ROOT']):")
    folder = latest.resolve() if latest.exists() else None
    if folder is None or folder.name[:14] < f"{started:%Y%m%d%H%M%S}":
        print("  none recorded")
        return
    pushed = 0
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            extra = ""
            if path.name == "pushitems.jsonl":
                pushed = sum(1 for _ in path.open())
                extra = f"  ({pushed} push items: distributions not recorded before)"
            print(f"  {path}  {path.stat().st_size:,} bytes{extra}")
    inventory = _result(manager, "inventory") or {}
    total = inventory.get("summary", {}).get("distributions", "the")
    if not pushed:
        print(
            f"  no push items: {total} distributions were recorded by an earlier run, none is "
            "new or changed (demo.new_push_items records each one once)"
        )
    gather = _result(manager, "gather")
    outbox = Path(settings.COLLECTORS["GATHERERS"]["demo"]["shipping_directory"])
    print(f"\ntarballs (gathering collection 'demo', shipped to {outbox}):")
    tarballs = (gather or {}).get("tarballs", [])
    for tarball in tarballs:
        where = outbox / tarball["name"]
        state = "shipped" if tarball["shipped"] and where.exists() else "NOT shipped"
        size = where.stat().st_size if where.exists() else tarball["compressed_size"]
        print(f"  {where}  {size:,} bytes, {state}: {', '.join(tarball['keys'])}")
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


def admin_url(path: str) -> str:
    return f"http://127.0.0.1:{os.environ.get('PORT') or '8000'}{path}"


def show_admin(uid: str, failed: list[TaskInstance]) -> None:
    """Where to look next: this session's page, and the page of each failed instance."""
    print("\nin the admin (make admin serves it, as demo / demo; make admin PORT=8001 to move it):")
    session = TriggerSession.objects.filter(uid=uid).only("pk").first()
    if session is None:
        print(f"  session {uid} is not registered in the database")
        return
    page = reverse("admin:triggers_triggersession_change", args=[session.pk])
    print(f"  {'this session:':<14} {admin_url(page)}")
    for inst in failed:
        path = reverse("admin:triggers_triggersession_instance", args=[session.pk, inst.name])
        print(f"  {inst.name + ':':<14} {admin_url(path)}")


def main() -> int:
    problem = database_problem()
    if problem is not None:
        print(problem, file=sys.stderr)
        return 1
    if sys.argv[1:] == ["--check-database"]:
        return 0
    with CONFIG_FILE.open("rb") as stream:
        configuration = tomllib.load(stream)
    started = datetime.now(UTC)
    uid = f"demo-{started:%Y%m%d-%H%M%S}"
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
    show_artifacts(manager, started)
    show_incremental(manager)
    show_state()

    failed = [inst for inst in manager.storage if inst.status == "failed"]
    unexpected = [inst.name for inst in failed if not inst.name.startswith(f"{FAILS_ON_PURPOSE}#")]
    for inst in failed:
        why = (
            " on purpose: in every session, its first attempt waits for a person's\n"
            "approval (settings/demo_session.toml)"
            if not unexpected
            else ""
        )
        command = f".venv/bin/python manage.py triggers_replay {uid} {inst.name} --here"
        print(f"\n{inst.name} failed{why}. Replay it with:\n  {command}")
    show_admin(uid, failed)
    unresolved = [inst.name for inst in manager.storage.get_unresolved_instances()]
    stuck = [name for name in unresolved if name not in {i.name for i in failed}]
    if unexpected or stuck:
        print(f"\nunexpected: failed {unexpected}, not finished {stuck}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
