"""Where component types come from: entry points, and a decorator for a project module.

    from collector_app.registry import source

    @source.register("my_source")
    class MySource(Source):
        def collect(self):
            return {"answer": 42}

Entry-point groups: ``collector_app.sources``, ``collector_app.aggregators``,
``collector_app.sinks``. Project modules are listed in ``COLLECTORS["COMPONENT_MODULES"]`` or
live in a ``flowconf.py`` next to the pipeline file. One name, one component: a second
registration of a name is an error that names both places.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Callable
from importlib.metadata import EntryPoint
from pathlib import Path
from typing import Any

from triggers import plugins

from .components import Aggregator, Component, Sink, Source
from .conf import collectors_setting
from .exceptions import CollectorsError


class ComponentRegistryError(LookupError, CollectorsError):
    """An unknown or duplicated component name, or a class that is not a component."""


def _where(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


def _entry_point_where(ep: EntryPoint) -> str:
    dist = getattr(getattr(ep, "dist", None), "name", None)
    return f"entry point {ep.value!r}" + (f" of {dist}" if dist else "")


class ComponentRegistry:
    """The component types of one kind (sources, aggregators or sinks) by name."""

    def __init__(self, kind: str, group: str, base: type[Component]) -> None:
        self.kind = kind
        self.group = group
        self.base = base
        self._local: dict[str, type[Component]] = {}

    def _entry_points(self) -> dict[str, list[EntryPoint]]:
        # the entry-point lookup every plugin kind uses; this registry refuses name clashes
        return plugins.entry_points_by_name(self.group)

    def register(self, name: str) -> Callable[[type[Component]], type[Component]]:
        """Class decorator: make a component available under ``name``."""

        def decorator(cls: type[Component]) -> type[Component]:
            if not (isinstance(cls, type) and issubclass(cls, self.base)):
                raise ComponentRegistryError(
                    f"{_where(cls)} cannot be registered as {self.kind} {name!r}: "
                    f"it is not a {self.base.__module__}.{self.base.__name__} subclass"
                )
            existing = self._local.get(name)
            if existing is not None and existing is not cls:
                raise ComponentRegistryError(
                    f"{self.kind} {name!r} is registered twice: by {_where(existing)} "
                    f"and by {_where(cls)}"
                )
            plugins = self._entry_points().get(name)
            if plugins:
                raise ComponentRegistryError(
                    f"{self.kind} {name!r} is registered twice: by "
                    f"{_entry_point_where(plugins[0])} and by {_where(cls)}"
                )
            self._local[name] = cls
            return cls

        return decorator

    def unregister(self, name: str) -> None:
        self._local.pop(name, None)

    def names(self) -> list[str]:
        return sorted(set(self._local) | set(self._entry_points()))

    def get(self, name: str) -> type[Component]:
        """The component class called ``name``; the error lists the names that exist."""
        if name in self._local:
            return self._local[name]
        plugins = self._entry_points().get(name, [])
        if len(plugins) > 1:
            places = " and by ".join(_entry_point_where(ep) for ep in plugins)
            raise ComponentRegistryError(f"{self.kind} {name!r} is registered twice: by {places}")
        if not plugins:
            raise ComponentRegistryError(
                f"unknown {self.kind} {name!r}; known {self.kind}s: "
                f"{', '.join(self.names()) or 'none'}"
            )
        try:
            cls = plugins[0].load()
        except Exception as exc:
            raise ComponentRegistryError(
                f"{self.kind} {name!r}: {_entry_point_where(plugins[0])} failed to load: {exc}"
            ) from exc
        if not (isinstance(cls, type) and issubclass(cls, self.base)):
            raise ComponentRegistryError(
                f"{self.kind} {name!r}: {_entry_point_where(plugins[0])} is not a "
                f"{self.base.__name__} subclass"
            )
        return cls


source = ComponentRegistry("source", "collector_app.sources", Source)
aggregator = ComponentRegistry("aggregator", "collector_app.aggregators", Aggregator)
sink = ComponentRegistry("sink", "collector_app.sinks", Sink)
REGISTRIES = {"sources": source, "aggregators": aggregator, "sinks": sink}

_loaded_files: dict[Path, Any] = {}


def load_component_modules(pipeline_file: str | Path | None = None) -> None:
    """Import the modules that register components: settings', then the pipeline's own file."""
    for module in collectors_setting("COMPONENT_MODULES"):
        try:
            importlib.import_module(module)
        except ImportError as exc:  # one line naming the setting, not a long traceback
            raise ComponentRegistryError(
                f"COLLECTORS['COMPONENT_MODULES'] lists {module!r}, which cannot be imported: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
    if pipeline_file is not None:
        local = Path(pipeline_file).resolve().parent / collectors_setting("LOCAL_COMPONENTS_FILE")
        if local.is_file():
            load_local_file(local)


def load_local_file(path: Path) -> Any:
    """Import a local components file once (a second import would register twice)."""
    path = path.resolve()
    if path not in _loaded_files:
        digest = hashlib.sha1(str(path).encode()).hexdigest()[:12]
        name = f"collector_app_local_{digest}"
        spec = importlib.util.spec_from_file_location(name, path)
        if spec is None or spec.loader is None:
            raise ComponentRegistryError(f"cannot import local components from {path}")
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        try:
            spec.loader.exec_module(module)
        except Exception:
            sys.modules.pop(name, None)
            raise
        _loaded_files[path] = module
    return _loaded_files[path]
