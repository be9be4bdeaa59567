"""Validation of session configurations: every error names the task and the directive."""

from __future__ import annotations

import difflib
import json
from collections.abc import Mapping
from typing import Any

from .exceptions import ConfigurationError, InvalidKwargsError
from .storable import MAX_DEPTH as MAX_NESTING  # noqa: F401 - re-exported
from .storable import check_storable
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
    # ``andEvery`` joins ``after``, so a task that runs on every firing of one trigger may
    # wait for nothing else: ``"after": []``.
    after = _string_list(name, "after", directives["after"], allow_empty=True)
    if not after and not directives.get("andEvery"):
        raise ConfigurationError(
            name, "after", "must name at least one trigger (or the task needs an 'andEvery')"
        )
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


def check_json(value: Any, where: str, error: type[Exception] = InvalidKwargsError) -> None:
    """Refuse values that a storage cannot keep, naming the key path of the first bad one
    (``triggers.storable``'s rules; ``ConfigurationError`` takes no task or directive here)."""
    if error is not ConfigurationError:
        check_storable(value, where, error)
        return
    try:
        check_storable(value, where)
    except ValueError as exc:
        raise ConfigurationError(None, None, str(exc)) from None


def dumps(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), allow_nan=False)


def self_feeding_cycles(configs: Mapping[str, TaskConfig]) -> list[list[str]]:
    """Chains through which a task's completion fires its own ``andEvery`` trigger again.

    Each chain starts and ends with the task (``["ping", "ping"]``, ``["a", "b", "a"]``). Such
    loops are legitimate (paging until a task skips itself) but run until something stops them,
    so ``triggers_config`` names them; ``MAX_INSTANCES_PER_TASK`` bounds them at run time.
    """
    waiting: dict[str, list[str]] = {}  # trigger -> tasks it can start or feed
    for config in configs.values():
        for trigger in config.triggers_required:
            waiting.setdefault(trigger, []).append(config.name)
    cycles = []
    for name in sorted(configs):
        target = configs[name].and_every
        if not target:
            continue
        # Breadth-first over tasks, from the task itself: a task's completion fires its name.
        parents: dict[str, str | None] = {name: None}
        queue = [name]
        while queue and target not in parents:
            current = queue.pop(0)
            for task in waiting.get(current, []):
                if task not in parents:
                    parents[task] = current
                    queue.append(task)
        if target in parents:
            chain: list[str] = [target]
            while (parent := parents[chain[-1]]) is not None:
                chain.append(parent)
            cycles.append([*reversed(chain), name])
    return cycles
