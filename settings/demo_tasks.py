"""The demo's tasks, addressed by dotted path so that worker processes can import them."""

from __future__ import annotations

from pathlib import Path

from triggers.task import TaskContext

ROOT = Path(__file__).resolve().parent.parent


def measure(context: TaskContext) -> dict:
    folders = context.trigger_kwargs["start"]["folders"]
    files = sorted(str(path) for folder in folders for path in (ROOT / folder).rglob("*.py"))
    context.logger.info("found %d Python files", len(files))
    return {"files": files}


def summarise(context: TaskContext) -> dict:
    files = context.trigger_kwargs["measure"]["files"]
    return {"count": len(files), "bytes": sum(Path(name).stat().st_size for name in files)}


def report(context: TaskContext) -> dict:
    figures = context.trigger_kwargs["summarise"]
    return {"line": f"{figures['count']} Python files, {figures['bytes']:,} bytes"}
