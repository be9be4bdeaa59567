"""``@register``: marks the gathering functions of a collection module, read in definition order.

A collection module is a plain Python module; every function decorated with ``register`` in it
is one *collection* (one key, one data file per window). Exactly one of them has
``config=True``: its JSON goes into every tarball as ``config.json``.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

from ..exceptions import CollectorsError

FORMATS = ("json", "csv")
_KEY = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
#: The names the common files of every tarball use; a key may not take them.
RESERVED_KEYS = frozenset({"config", "manifest", "data_collection_status"})


class CollectionError(ValueError, CollectorsError):
    """A collection module, or one of its registered functions, is not usable."""


@dataclass(frozen=True)
class Registration:
    """What ``@register`` recorded about one gathering function."""

    key: str
    version: str
    format: str
    description: str | None
    config: bool
    fnc_slicing: Callable[..., Any] | None
    shipping_group: str
    full_sync_interval_days: float | None
    function: Callable[..., Any]

    @property
    def filename(self) -> str:
        """The file's name inside a tarball (and in ``manifest.json``)."""
        return f"{self.key}.{self.format}"


def register(
    key: str,
    version: str,
    format: str = "json",
    description: str | None = None,
    config: bool = False,
    fnc_slicing: Callable[..., Any] | None = None,
    shipping_group: str = "default",
    full_sync_interval_days: float | None = None,
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a function as the gathering function of collection ``key`` (``version`` of its data).

    The function is returned unchanged (still callable on its own); the registration is kept on
    it as ``__gathering__``. Errors in the arguments are raised here, at import time.
    """
    where = f"@register({key!r})"
    if not isinstance(key, str) or not _KEY.match(key):
        raise CollectionError(
            f"{where}: a key is letters, digits, '_', '.' or '-', starting with a letter or digit"
        )
    if key in RESERVED_KEYS and not config:
        raise CollectionError(f"{where}: {key!r} is the name of a file every tarball holds")
    if not isinstance(version, str) or not version:
        raise CollectionError(f"{where}: version must be a non-empty string such as '1.0'")
    if format not in FORMATS:
        raise CollectionError(f"{where}: format must be 'json' or 'csv', not {format!r}")
    if config and format != "json":
        raise CollectionError(f"{where}: the config function must have format='json'")
    if config and fnc_slicing is not None:
        raise CollectionError(f"{where}: the config function cannot be sliced")
    if fnc_slicing is not None and not callable(fnc_slicing):
        raise CollectionError(f"{where}: fnc_slicing must be callable")
    if not isinstance(shipping_group, str) or not shipping_group:
        raise CollectionError(f"{where}: shipping_group must be a non-empty string")
    if full_sync_interval_days is not None and not full_sync_interval_days > 0:
        raise CollectionError(f"{where}: full_sync_interval_days must be a positive number")

    def decorator(function: Callable[..., Any]) -> Callable[..., Any]:
        function.__gathering__ = Registration(  # type: ignore[attr-defined]
            key=key,
            version=version,
            format=format,
            description=description,
            config=config,
            fnc_slicing=fnc_slicing,
            shipping_group=shipping_group,
            full_sync_interval_days=full_sync_interval_days,
            function=function,
        )
        return function

    return decorator


@dataclass(frozen=True)
class Collection:
    """The registered functions of one collection module: the config one and the others."""

    module: str
    config: Registration
    functions: tuple[Registration, ...]

    @property
    def keys(self) -> list[str]:
        return [r.key for r in self.functions]


def load_collection(module: str | ModuleType) -> Collection:
    """Read the registered functions of ``module`` (a dotted path or a module object).

    Functions come in definition order (the order of the module's namespace). Raises
    ``CollectionError`` when there is no config function, several, or a key repeats.
    """
    if isinstance(module, str):
        try:
            module = importlib.import_module(module)
        except ImportError as exc:
            raise CollectionError(f"cannot import collection module {module!r}: {exc}") from exc
    name = module.__name__
    found = [
        value.__gathering__
        for value in vars(module).values()
        if callable(value) and isinstance(getattr(value, "__gathering__", None), Registration)
    ]
    configs = [r for r in found if r.config]
    if not configs:
        raise CollectionError(
            f"collection module {name!r} has no config function: register exactly one "
            "function with @register(..., config=True, format='json')"
        )
    if len(configs) > 1:
        keys = ", ".join(repr(r.key) for r in configs)
        raise CollectionError(
            f"collection module {name!r} has {len(configs)} config functions ({keys}); "
            "exactly one is allowed"
        )
    by_key: dict[str, list[Registration]] = {}
    for registration in found:
        by_key.setdefault(registration.key, []).append(registration)
    functions = tuple(
        _shared(name, group) if len(group) > 1 else group[0]
        for group in by_key.values()
        if not group[0].config
    )
    return Collection(module=name, config=configs[0], functions=functions)


def registered_collectors(module: str | ModuleType) -> list[Callable[..., Any]]:
    """The ``@register``ed functions of ``module``, config one included, in definition order
    (what insights-analytics-collector's ``Collector`` reads from its collector module)."""
    if isinstance(module, str):
        module = importlib.import_module(module)
    return [
        value
        for value in vars(module).values()
        if callable(value) and isinstance(getattr(value, "__gathering__", None), Registration)
    ]


def _shared(module: str, group: list[Registration]) -> Registration:
    """Several sliced CSV functions registered under one key (insights allows it): one
    registration whose function calls each in turn, per slice; their files go out in separate
    tarballs (one file per key in a tarball) and the key's checkpoint moves only over slices
    every one of them gathered and shipped."""
    first = group[0]
    where = f"collection module {module!r}, key {first.key!r}"
    for other in group[1:]:
        if first.config or other.config or first.fnc_slicing is None or first.format != "csv":
            raise CollectionError(
                f"{where} is registered {len(group)} times; only sliced csv functions "
                "(fnc_slicing=...) may share a key"
            )
        for attribute in ("version", "format", "fnc_slicing", "shipping_group"):
            if getattr(other, attribute) != getattr(first, attribute):
                raise CollectionError(
                    f"{where}: functions sharing a key need the same {attribute} "
                    f"({getattr(first, attribute)!r} and {getattr(other, attribute)!r})"
                )

    def gather_all(**arguments: Any) -> list[Any]:
        files: list[Any] = []
        for registration in group:
            output = call_with(registration.function, **arguments)
            if output is None:
                continue
            files.extend([output] if isinstance(output, str | bytes | Path) else output)
        return files

    return replace(first, function=gather_all)


def call_with(function: Callable[..., Any], **arguments: Any) -> Any:
    """Call ``function`` with the keyword ``arguments`` it accepts (all of them with ``**kw``).

    Lets a gathering function take only the arguments it needs (``def f(since, until)``).
    """
    try:
        parameters = inspect.signature(function).parameters.values()
    except (TypeError, ValueError):
        return function(**arguments)
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return function(**arguments)
    accepted = {
        p.name
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    }
    return function(**{k: v for k, v in arguments.items() if k in accepted})
