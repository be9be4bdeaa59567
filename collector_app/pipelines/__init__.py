"""Pipelines and configured collectors, and ``run()``: the one way to run either.

``configured`` reads the configured collectors from the settings, ``runner`` runs one
(``run``, ``run_configured``, ``RunResult``). ``collector_app.pipeline`` (the engine) and
``collector_app.runs`` (the run history) keep their names; ``collector_app.state.running`` is the
old name of ``runner``. This package is where a newcomer starts.
"""

from ..pipeline import Journal, JournalEntry, Pipeline
from .configured import (
    CollectorConfigError,
    ConfiguredCollector,
    UnknownCollectorError,
    configured_collector,
    configured_collectors,
)
from .runner import RunResult, resolve, run, run_configured

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
    "run_configured",
]
