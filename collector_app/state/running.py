"""Compatibility: configured collectors moved to ``collector_app.pipelines.configured`` and
running them to ``collector_app.run``; these names keep working."""

from __future__ import annotations

from ..pipelines.configured import (
    CLASS,
    ENTRY_KEYS,
    PIPELINE,
    CollectorConfigError,
    ConfiguredCollector,
    UnknownCollectorError,
    build_class_collector,
    configured_collector,
    configured_collectors,
)
from ..pipelines.runner import RunResult
from .locking import collector_lock

#: The old name of ``RunResult`` (same fields, same order).
RunOutcome = RunResult

__all__ = [
    "CLASS",
    "ENTRY_KEYS",
    "PIPELINE",
    "CollectorConfigError",
    "ConfiguredCollector",
    "RunOutcome",
    "UnknownCollectorError",
    "build_class_collector",
    "configured_collector",
    "configured_collectors",
    "run_configured",
]


def run_configured(
    name: str, *, mode: str | None = None, timeout: float | None = None
) -> RunResult:
    """Run collector ``name`` once under its lock, taken with ``mode`` and ``timeout``.

    Raises ``UnknownCollectorError`` / ``CollectorConfigError`` for a bad name or entry and
    ``CollectorBusyError`` when another run holds the lock; a failing run is a result.
    """
    from ..pipelines.runner import run

    configured_collector(name)  # an unknown name fails before the lock is taken
    with collector_lock(name, mode, timeout):
        return run(name)  # re-enters the lock this thread holds
