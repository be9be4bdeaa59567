"""Configured collectors: the names ``collector_app.run`` and ``run_collector`` accept.

A *configured collector* has a name in the settings and is either

* a **class collector**: ``COLLECTORS["CLASS_COLLECTORS"][name] = {"class": "dotted.Path",
  "config": {...}}``; a run builds ``Class(name=name, config=config)`` and calls its ``run()``
  (use ``StatefulCollectorMixin`` for state); or
* a **named pipeline**: ``COLLECTORS["PIPELINES"][name]``; a run runs the pipeline once and
  records its journal. Its components' states are keyed by the pipeline's name.

A name may not be both. Running one is ``collector_app.run`` (``collector_app.pipelines.run``);
this module only reads and checks the settings (it moved here from ``collector_app.state``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.utils.module_loading import import_string

from ..conf import collectors_setting
from ..exceptions import CollectorsError
from ..state.keys import check_name

CLASS, PIPELINE = "class", "pipeline"
ENTRY_KEYS = frozenset({"class", "config"})


class UnknownCollectorError(LookupError, CollectorsError):
    def __init__(self, name: str) -> None:
        self.name = name
        known = ", ".join(sorted(configured_collectors())) or "none"
        super().__init__(
            f"no collector named {name!r} in COLLECTORS['CLASS_COLLECTORS'] or "
            f"COLLECTORS['PIPELINES'] (known: {known})"
        )


class CollectorConfigError(ImproperlyConfigured, CollectorsError):
    """A class collector's entry in the settings is wrong; names the entry and the key."""


@dataclass(frozen=True)
class ConfiguredCollector:
    name: str
    kind: str
    #: The dotted class path, or the pipeline's definition (a file path or a dict).
    target: Any
    config: dict[str, Any] = field(default_factory=dict)


def _class_entry(name: Any, entry: Any) -> ConfiguredCollector:
    where = f"COLLECTORS['CLASS_COLLECTORS'][{name!r}]"
    try:
        check_name(name)
    except ValueError as exc:
        raise CollectorConfigError(f"{where}: {exc}") from None
    if "/" in name:
        raise CollectorConfigError(f"{where}: '/' is kept for pipeline components' states")
    if not isinstance(entry, Mapping):
        raise CollectorConfigError(
            f"{where} must be a dict with 'class' and 'config', not {type(entry).__name__}"
        )
    unknown = sorted(set(entry) - ENTRY_KEYS)
    if unknown:
        raise CollectorConfigError(f"{where}: unknown key {unknown[0]!r} (known: class, config)")
    target = entry.get("class")
    if not isinstance(target, str) or "." not in target:
        raise CollectorConfigError(f"{where}['class'] must be a dotted class path, not {target!r}")
    config = entry.get("config", {})
    if not isinstance(config, Mapping):
        raise CollectorConfigError(f"{where}['config'] must be a dict, not {type(config).__name__}")
    return ConfiguredCollector(name, CLASS, target, dict(config))


def configured_collectors() -> dict[str, ConfiguredCollector]:
    """Every configured collector, class collectors and named pipelines, by name."""
    classes = collectors_setting("CLASS_COLLECTORS") or {}
    if not isinstance(classes, Mapping):
        raise CollectorConfigError(
            f"COLLECTORS['CLASS_COLLECTORS'] must be a dict, not {type(classes).__name__}"
        )
    pipelines = collectors_setting("PIPELINES") or {}
    both = sorted(set(classes) & set(pipelines))
    if both:
        raise CollectorConfigError(
            f"{both[0]!r} is both in COLLECTORS['CLASS_COLLECTORS'] and COLLECTORS['PIPELINES']:"
            f" a collector name must be unique"
        )
    found = {name: _class_entry(name, entry) for name, entry in classes.items()}
    for name, definition in pipelines.items():
        found[name] = ConfiguredCollector(name, PIPELINE, definition)
    return found


def configured_collector(name: str) -> ConfiguredCollector:
    collectors = configured_collectors()
    if name not in collectors:
        raise UnknownCollectorError(name)
    return collectors[name]


def build_class_collector(collector: ConfiguredCollector) -> Any:
    """``Class(name=..., config=...)`` for a class collector; errors name the setting."""
    where = f"COLLECTORS['CLASS_COLLECTORS'][{collector.name!r}]['class']"
    try:
        cls = import_string(collector.target)
    except ImportError as exc:
        raise CollectorConfigError(f"{where}: cannot import {collector.target!r}: {exc}") from exc
    if not isinstance(cls, type) or not callable(getattr(cls, "run", None)):
        raise CollectorConfigError(f"{where}: {collector.target!r} is not a class with run()")
    return cls(name=collector.name, config=dict(collector.config))
