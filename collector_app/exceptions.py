"""``CollectorsError``: the one base of every exception ``collector_app`` raises on purpose.

``except CollectorsError`` catches them all; each class keeps its built-in base too
(``DefinitionError`` is still a ``ValueError``, ``UnknownPipelineError`` a ``LookupError``), so
existing ``except ValueError`` code keeps working. Each class stays importable where it was
defined; this module also names them all (lazily: importing it imports nothing else), so
``from collector_app.exceptions import DefinitionError`` works too.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any


class CollectorsError(Exception):
    """Base of collector_app's exceptions: one ``except`` for "the collectors said no"."""


#: Exception name -> module defining it (relative to ``collector_app``).
_HOMES = {
    "CerberusSchemaError": ".cerberus",
    "CollectionError": ".gathering.registry",
    "CollectorBusyError": ".state.base",
    "CollectorConfigError": ".pipelines.configured",
    "ComponentRegistryError": ".registry",
    "ComponentTimeout": ".timeouts",
    "CorruptStateError": ".state.base",
    "CsvPartError": ".gathering.csv_parts",
    "DeadlineExceeded": ".http_client",
    "DefinitionError": ".definition",
    "DisallowedGlobalError": ".state.n6",
    "ExpressionTooLarge": ".builtins.aggregators",
    "GatherLocked": ".gathering.locks",
    "GathererConfigError": ".gathering.gatherer",
    "InvalidStateError": ".state.base",
    "InvertedWindowError": ".gathering.windows",
    "LegacyStateError": ".state.n6",
    "LockLostError": ".state.base",
    "NoState": ".state.base",
    "OptionError": ".options",
    "PackagingError": ".gathering.packaging",
    "PipelineNotFound": ".cli",
    "PushItemError": ".recording.validation",
    "RunEndedError": ".state.fence",
    "ScheduleError": ".scheduling.spec",
    "ShippingError": ".gathering.transports",
    "StateError": ".state.base",
    "UnknownCollectionError": ".gathering.gatherer",
    "UnknownCollectorError": ".pipelines.configured",
    "UnknownPipelineError": ".runs",
    "UntaggableError": ".state.tagged",
    "WindowError": ".gathering.windows",
}

__all__ = ["CollectorsError", *sorted(_HOMES)]


def __getattr__(name: str) -> Any:
    if name not in _HOMES:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(_HOMES[name], "collector_app"), name)


def __dir__() -> list[str]:
    return __all__
