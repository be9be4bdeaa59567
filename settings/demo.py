"""``make demo``: a three-task chain fired into a fresh session and run to the end.

Run with ``python -m settings.demo`` (after ``manage.py migrate``). The session's tasks:

    measure   after: start      counts the Python files of this checkout
    summarise after: measure    sums their sizes
    report    after: summarise  turns the figures into one line of text
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import django

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "settings")
django.setup()

from triggers import TriggerManager, register_task  # noqa: E402
from triggers.task import TaskContext  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent


@register_task("demo.measure")
def measure(context: TaskContext) -> dict:
    folders = context.trigger_kwargs["start"]["folders"]
    files = sorted(str(path) for folder in folders for path in (ROOT / folder).rglob("*.py"))
    context.logger.info("found %d Python files", len(files))
    return {"files": files}


@register_task("demo.summarise")
def summarise(context: TaskContext) -> dict:
    files = context.trigger_kwargs["measure"]["files"]
    return {"count": len(files), "bytes": sum(Path(name).stat().st_size for name in files)}


@register_task("demo.report")
def report(context: TaskContext) -> dict:
    figures = context.trigger_kwargs["summarise"]
    return {"line": f"{figures['count']} Python files, {figures['bytes']:,} bytes"}


CONFIGURATION = {
    "measure": {"after": ["start"], "run": "demo.measure"},
    "summarise": {"after": ["measure"], "run": "demo.summarise"},
    "report": {"after": ["summarise"], "run": "demo.report"},
}


def main() -> None:
    uid = f"demo-{uuid.uuid4().hex[:8]}"
    manager = TriggerManager.for_session(uid)
    manager.update_configuration(CONFIGURATION)
    print(f"session {uid} on storage {manager.storage.name!r}; firing 'start'")
    manager.fire("start", {"folders": ["triggers", "collector_app", "settings"]})
    print(f"{'instance':<14}{'status':<11}result")
    for instance in sorted(manager.storage, key=lambda inst: inst.metadata.get("created", "")):
        result = instance.result
        if isinstance(result, dict) and "files" in result:
            result = {"files": f"<{len(result['files'])} paths>"}
        print(f"{instance.name:<14}{instance.status:<11}{result}")
    unresolved = manager.storage.get_unresolved_instances()
    if unresolved:
        raise SystemExit(f"unresolved instances left: {[inst.name for inst in unresolved]}")


if __name__ == "__main__":
    main()
