"""Pipelines and configured collectors, and ``run()``: the one way to run either.

``collector_app.pipeline`` (the engine), ``collector_app.runs`` (the run history) and
``collector_app.state.running`` keep their names; this package is where a newcomer starts.
"""

from ..pipeline import Journal, JournalEntry, Pipeline
from .configured import (
    CollectorConfigError,
    ConfiguredCollector,
    UnknownCollectorError,
    configured_collector,
    configured_collectors,
)
from .runner import RunResult, resolve, run

__all__ = [
    "CollectorConfigError",
    "ConfiguredCollector",
    "Journal",
    "JournalEntry",
    "Pipeline",
    "RunResult",
    "UnknownCollectorError",
    "configured_collector",
    "configured_collectors",
    "resolve",
    "run",
]
