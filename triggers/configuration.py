"""Validation of session configurations: every error names the task and the directive."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Any

from .exceptions import ConfigurationError, InvalidKwargsError
from .types import DIRECTIVES, TaskConfig

#: The longest task name (the ``db`` backend's column; kept on every backend alike).
MAX_TASK_NAME_LENGTH = 255
#: Keys outside ``DIRECTIVES`` that built-in code reads from ``TaskConfig.extras`` (the ``rq``
#: runner's ``queue``). Other keys stay extras too, unless they look like a misspelt directive.
KNOWN_EXTRAS = ("queue",)
#: How alike (``difflib`` ratio, case and ``_``/``-`` ignored) a key must be to a known one to
#: count as its misspelling: ``unles``, ``withParam``, ``with_params``, ``Using``, ``queu``.
NEAR_MISS_CUTOFF = 0.8


def near_miss(key: str) -> str | None:
    """The directive (or known extra) that ``key`` is probably a misspelling of, if any."""
    known = {name.lower(): name for name in (*DIRECTIVES, *KNOWN_EXTRAS)}
    if key in known.values():
        return None
    folded = key.lower().replace("_", "").replace("-", "")
    if folded in known:
        return known[folded]
    close = difflib.get_close_matches(folded, list(known), n=1, cutoff=NEAR_MISS_CUTOFF)
    return known[close[0]] if close else None


def parse_configuration(config: Mapping[str, Any]) -> dict[str, TaskConfig]:
    """Validate a whole configuration and return its tasks; raise before anything is stored."""
    if not isinstance(config, Mapping):
        raise ConfigurationError(
            None, None, f"a configuration is a mapping of task names, not {type(config).__name__}"
        )
    return {name: parse_task(name, directives) for name, directives in config.items()}


def _string_list(task: str, directive: str, value: Any, *, allow_empty: bool) -> list[str]:
    if isinstance(value, str) or not isinstance(value, list | tuple):
        raise ConfigurationError(
            task, directive, f"must be a list of trigger names, not {type(value).__name__}"
        )
    if not value and not allow_empty:
        raise ConfigurationError(task, directive, "must name at least one trigger")
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item:
            raise ConfigurationError(
                task, f"{directive}[{index}]", f"must be a non-empty string, not {item!r}"
            )
    return list(value)


def parse_task(name: Any, directives: Any) -> TaskConfig:
    from .runners import get_runner_class
    from .task import resolve_task

    if not isinstance(name, str) or not name or "#" in name:
        raise ConfigurationError(str(name), None, "task names are non-empty strings without '#'")
    if len(name) > MAX_TASK_NAME_LENGTH:
        raise ConfigurationError(
            name[:40] + "...",
            None,
            f"task names are at most {MAX_TASK_NAME_LENGTH} characters, not {len(name)}",
        )
    if not isinstance(directives, Mapping):
        raise ConfigurationError(
            name, None, f"a task is a mapping of directives, not {type(directives).__name__}"
        )
    for key in directives:
        suggestion = near_miss(key) if isinstance(key, str) else None
        if suggestion is not None:
            raise ConfigurationError(name, key, f"unknown directive; did you mean {suggestion!r}?")
    if "after" not in directives:
        raise ConfigurationError(name, "after", "is required (the triggers the task waits for)")
    _string_list(name, "after", directives["after"], allow_empty=False)
    if "run" not in directives:
        raise ConfigurationError(name, "run", "is required (a registered task name or dotted path)")
    run = directives["run"]
    if not isinstance(run, str) or not run:
        raise ConfigurationError(name, "run", f"must be a non-empty string, not {run!r}")
    try:
        resolve_task(run)
    except (ImportError, AttributeError, ValueError) as exc:
        raise ConfigurationError(name, "run", f"cannot resolve {run!r}: {exc}") from exc
    and_every = directives.get("andEvery")
    if and_every is not None and (not isinstance(and_every, str) or not and_every):
        raise ConfigurationError(
            name, "andEvery", f"must be one trigger name (a string), not {and_every!r}"
        )
    if "unless" in directives and directives["unless"] is not None:
        _string_list(name, "unless", directives["unless"], allow_empty=True)
    with_params = directives.get("withParams")
    if with_params is not None:
        if not isinstance(with_params, Mapping):
            raise ConfigurationError(
                name, "withParams", f"must be a mapping, not {type(with_params).__name__}"
            )
        check_json(with_params, f"task {name!r}, directive 'withParams'", ConfigurationError)
    using = directives.get("using")
    if using is not None:
        if not isinstance(using, str) or not using:
            raise ConfigurationError(name, "using", f"must be a runner name, not {using!r}")
        try:
            get_runner_class(using)
        except ValueError as exc:
            raise ConfigurationError(name, "using", str(exc)) from exc
    extras = {key: value for key, value in directives.items() if key not in DIRECTIVES}
    check_json(extras, f"task {name!r}", ConfigurationError)
    config = TaskConfig.from_dict(name, directives)
    get_runner_class(using)().check_config(config)
    return config


#: How deep kwargs, results and ``withParams`` may nest. JSON data deeper than this is almost
#: surely a mistake, and every recursive step on it (checks, copies, storage) would hit Python's
#: recursion limit long before ~1000 levels: refusing it up front keeps the error one clear line.
MAX_NESTING = 100


def check_json(value: Any, where: str, error: type[Exception] = InvalidKwargsError) -> None:
    """Refuse values that JSON cannot store, naming the key path of the first bad one."""
    try:
        path = first_unstorable(value)
    except InvalidKwargsError as exc:  # nested too deep
        if error is ConfigurationError:
            raise ConfigurationError(None, None, f"{where}: {exc}") from None
        raise error(f"{where}: {exc}") from None
    if path is not None:
        bad_path, bad_value = path
        message = (
            f"{where}: value at {bad_path or '<root>'} is a {type(bad_value).__name__}, "
            f"which cannot be stored as JSON"
        )
        if error is ConfigurationError:
            raise ConfigurationError(None, None, message)
        raise error(message)


def first_unstorable(value: Any) -> tuple[str, Any] | None:
    """The key path and value of the first thing JSON cannot store, or ``None``.

    Raises ``InvalidKwargsError`` for data nested more than ``MAX_NESTING`` levels deep.
    """
    return _first_bad_path(value, "", 0)


def _too_deep(path: str) -> InvalidKwargsError:
    shown = path if len(path) <= 60 else path[:60] + "..."
    return InvalidKwargsError(f"value at {shown} is nested more than {MAX_NESTING} levels deep")


def _first_bad_path(value: Any, path: str, depth: int) -> tuple[str, Any] | None:
    if value is None or isinstance(value, str | bool | int):
        return None
    if isinstance(value, float):
        return (
            None if value == value and value not in (float("inf"), float("-inf")) else (path, value)
        )
    if isinstance(value, Mapping | list | tuple) and depth >= MAX_NESTING:
        raise _too_deep(path)
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, str):
                return (f"{path}[{key!r}]", key)
            found = _first_bad_path(item, f"{path}.{key}" if path else key, depth + 1)
            if found:
                return found
        return None
    if isinstance(value, list | tuple):
        for index, item in enumerate(value):
            found = _first_bad_path(item, f"{path}[{index}]", depth + 1)
            if found:
                return found
        return None
    return (path, value)


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)
