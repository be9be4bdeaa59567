"""What every storage can keep: one rule set, checked where a value enters the engine.

Trigger kwargs, task results, skip results, retry kwargs and instance metadata are all checked
here, so a value that one backend would refuse (PostgreSQL rejects ``\\x00`` in text and JSON;
``json.dumps`` cannot write an int of more than ``sys.get_int_max_str_digits()`` digits, nor NaN)
is refused on every backend, with the key path of the first bad value, before anything is
written. Nesting is checked without recursion, so a 10,000-deep value is an error, not a crash.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Mapping
from typing import Any

#: Deepest nesting of mappings and lists a stored value may have (json and the database
#: drivers recurse over values; this keeps every backend far from their limits).
MAX_DEPTH = 100


def _int_problem(value: int) -> str | None:
    limit = sys.get_int_max_str_digits()
    # Cheap test first: an int below 2**(3.32 * limit) always has fewer digits than the limit.
    if limit and value.bit_length() > 3 * limit:
        try:
            str(value)
        except ValueError:
            return f"an int of more than {limit} digits, which cannot be written as JSON text"
    return None


def _str_problem(value: str) -> str | None:
    if "\x00" in value:
        return "a string containing a NUL character (\\x00), which PostgreSQL cannot store"
    return None


def unstorable(value: Any) -> tuple[str, str] | None:
    """``(key path, why)`` of the first value no storage can keep, or ``None``."""
    stack: list[tuple[Any, str, int]] = [(value, "", 0)]
    while stack:
        item, path, depth = stack.pop()
        if item is None or isinstance(item, bool):
            continue
        if isinstance(item, str):
            problem = _str_problem(item)
        elif isinstance(item, int):
            problem = _int_problem(item)
        elif isinstance(item, float):
            problem = None if math.isfinite(item) else f"{item!r}, which JSON cannot store"
        elif isinstance(item, Mapping | list | tuple):
            if depth >= MAX_DEPTH:
                shown = path if len(path) <= 60 else path[:60] + "..."
                return (shown or "<root>", f"nested more than {MAX_DEPTH} levels deep")
            children: list[tuple[Any, str, int]] = []
            if isinstance(item, Mapping):
                for key, child in item.items():
                    if not isinstance(key, str):
                        return (
                            f"{path}[{key!r}]",
                            f"a key of type {type(key).__name__}; JSON keys are strings",
                        )
                    key_problem = _str_problem(key)
                    if key_problem:
                        return (f"{path}[{key!r}]", f"a key that is {key_problem}")
                    children.append((child, f"{path}.{key}" if path else key, depth + 1))
            else:
                children = [
                    (child, f"{path}[{index}]", depth + 1) for index, child in enumerate(item)
                ]
            stack.extend(reversed(children))  # report the first bad value in document order
            continue
        else:
            problem = f"a {type(item).__name__}, which cannot be stored as JSON"
        if problem:
            return (path or "<root>", problem)
    return None


def check_storable(value: Any, where: str, error: type[Exception] = ValueError) -> None:
    """Raise ``error`` naming ``where``, the key path and the reason for an unstorable value."""
    found = unstorable(value)
    if found is not None:
        path, why = found
        raise error(f"{where}: value at {path} is {why}")


def storable_text(text: str) -> str:
    """``text`` with NUL characters spelled out, for messages and tracebacks the engine keeps."""
    return text.replace("\x00", "\\x00")
