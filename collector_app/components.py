"""The three kinds of pipeline components: ``Source``, ``Aggregator`` and ``Sink``.

Each is built from its pipeline entry (index, type, id, ``optional``, ``timeout``, ``config``):
the constructor asks ``declare_config`` for the options and validates the given values at once,
so a bad option fails before anything runs.
"""

from __future__ import annotations

import re
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Mapping
from typing import Any

from .options import Config, Configurator, OptionError
from .state.handle import StateHandle, StateMethods, component_state

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_timeout(value: Any, component: str = "?") -> float | None:
    """``None``, a number of seconds, or a string such as ``"1.5s"``, ``"500ms"``, ``"2m"``."""
    if value is None:
        return None
    if isinstance(value, bool):
        raise OptionError(component, "timeout", f"must be seconds or a duration, not {value!r}")
    if isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise OptionError(
            component, "timeout", f"{value!r} is not a duration (use 3, 1.5, '1.5s', '500ms')"
        )
    if seconds <= 0:
        raise OptionError(component, "timeout", f"must be positive, not {value!r}")
    return seconds


class Component(StateMethods):
    """What every component knows about itself; ``config`` holds its validated options.

    ``load_state()`` / ``save_state(state)`` / ``make_default_state()`` keep what the component
    remembers between runs, keyed by pipeline, component id, type and options (docs/state.md).
    """

    kind = "component"
    #: The named pipeline that runs this component: part of its state's key.
    pipeline_name: str | None = None

    def __init__(
        self,
        index: int,
        type_: str,
        id_: str,
        optional: bool = False,
        timeout: Any = None,
        config: Mapping[str, Any] | None = None,
    ) -> None:
        self.index = index
        self.type = type_
        self.id = id_
        self.optional = bool(optional)
        self.timeout = parse_timeout(timeout, id_)
        #: What the run was started with (a trigger task's context: ``trigger_kwargs``, ...).
        self.context: Any = None
        configurator = Configurator()
        self.declare_config(configurator)
        self.config: Config = configurator.validate(id_, config)

    def declare_config(self, config: Configurator) -> None:
        """Declare options with ``config.add_option(...)``; none by default."""

    def state_handle(self) -> StateHandle:
        return component_state(self)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.id!r} ({self.type}) {self.config!r}>"


class Source(Component, ABC):
    kind = "source"

    @abstractmethod
    def collect(self) -> dict[str, Any]:
        """Return the collected data: a JSON-serialisable dict."""


class Aggregator(Component, ABC):
    kind = "aggregator"

    @abstractmethod
    def accumulate(self, data: OrderedDict[str, Any]) -> None:
        """Change the bundle in place (source id -> data, in pipeline order)."""


class Sink(Component, ABC):
    kind = "sink"

    #: Extra attempts after a failure (not after a timeout), waiting ``retry_backoff`` seconds,
    #: then twice that, and so on.
    retries: int = 0
    retry_backoff: float = 1.0

    @abstractmethod
    def distribute(self, data: OrderedDict[str, Any]) -> None:
        """Send the bundle somewhere; receives its own deep copy."""


class FilterSink(Sink, ABC):
    """A sink with flowbber's ``include`` / ``exclude`` options (dotted key paths, shell
    patterns): ``super().distribute(data)`` filters the bundle in place before it is used."""

    def declare_config(self, config: Configurator) -> None:
        patterns = {"type": "array", "items": {"type": "string"}}
        config.add_option("include", default=["*"], optional=True, schema=patterns)
        config.add_option("exclude", default=[], optional=True, schema=patterns)

    @abstractmethod
    def distribute(self, data: OrderedDict[str, Any]) -> None:
        from .builtins.aggregators import filter_paths

        include, exclude = self.config.include.value, self.config.exclude.value
        if include == ["*"] and not exclude:
            return
        filtered = filter_paths(data, include, exclude)
        data.clear()
        data.update(filtered)
