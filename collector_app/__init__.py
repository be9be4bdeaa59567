"""Collectors: pipelines of sources, aggregators and sinks that run as trigger tasks.

The front door: ``from collector_app import Pipeline, Source, Sink, run`` and friends. Every
name is imported on first use (``__getattr__``), so listing the app in ``INSTALLED_APPS``
imports no Django machinery and reads nothing; ``__version__`` comes from the installed
package's metadata, read on first use too.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .components import Aggregator, Component, FilterSink, Sink, Source
    from .exceptions import CollectorsError
    from .gathering import Gatherer, gather
    from .gathering import register as register_gatherer
    from .leases import collector_lock
    from .pipeline import Journal, Pipeline
    from .pipelines import RunResult, run
    from .recording import Collector
    from .recording import Collector as Recorder
    from .state import CollectorBusyError, StatefulCollectorMixin

#: Public name -> (module, attribute).
_LAZY: dict[str, tuple[str, str]] = {
    "Aggregator": (".components", "Aggregator"),
    "Collector": (".recording", "Collector"),
    "CollectorBusyError": (".state", "CollectorBusyError"),
    "CollectorsError": (".exceptions", "CollectorsError"),
    "Component": (".components", "Component"),
    "FilterSink": (".components", "FilterSink"),
    "Gatherer": (".gathering", "Gatherer"),
    "Journal": (".pipeline", "Journal"),
    "Pipeline": (".pipeline", "Pipeline"),
    "Recorder": (".recording", "Collector"),
    "RunResult": (".pipelines", "RunResult"),
    "Sink": (".components", "Sink"),
    "Source": (".components", "Source"),
    "StatefulCollectorMixin": (".state", "StatefulCollectorMixin"),
    "collector_lock": (".leases", "collector_lock"),
    "gather": (".gathering", "gather"),
    "register_gatherer": (".gathering", "register"),
    "run": (".pipelines", "run"),
}

__all__ = [
    "Aggregator",
    "Collector",
    "CollectorBusyError",
    "CollectorsError",
    "Component",
    "FilterSink",
    "Gatherer",
    "Journal",
    "Pipeline",
    "Recorder",
    "RunResult",
    "Sink",
    "Source",
    "StatefulCollectorMixin",
    "__version__",
    "collector_lock",
    "gather",
    "register_gatherer",
    "run",
]

DISTRIBUTION = "django-triggered-collectors"


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:  # a source tree that was never installed
        return "0+unknown"


def __getattr__(name: str) -> Any:
    if name == "__version__":
        value = _version()
    elif name in _LAZY:
        module, attribute = _LAZY[name]
        value = getattr(import_module(module, __name__), attribute)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value  # looked up once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
