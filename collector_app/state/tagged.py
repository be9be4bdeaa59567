"""Tagged JSON: states holding ``datetime``, ``date``, ``bytes``, ``set``, ``tuple`` and
non-string dict keys stored as JSON and read back as the same Python values.

n6 collectors keep such states (``{"last_utc": datetime(...)}``, sets of seen ids, tuple
keys); plain JSON would refuse them or hand back strings and lists. Each such value becomes
a one-key object whose key is a tag::

    datetime(2024, 5, 1, 10, 0)   {"$datetime": "2024-05-01T10:00:00"}
    date(2024, 5, 1)              {"$date": "2024-05-01"}
    b"\\x00\\xff"                   {"$bytes": "AP8="}              (base64)
    {1, 2}                        {"$set": [1, 2]}
    (1, "a")                      {"$tuple": [1, "a"]}
    {(1, 2): "x"}                 {"$dict": [[{"$tuple": [1, 2]}, "x"]]}

A dict with a non-string key is stored as ``$dict`` pairs, and so is a dict whose only key
happens to be a tag, so that no stored object is ever misread. Everything else is plain JSON
and stays as it was, so states saved before tags existed read back unchanged.
"""

from __future__ import annotations

import base64
from datetime import date, datetime
from typing import Any

from ..exceptions import CollectorsError

DATETIME, DATE, BYTES, SET, TUPLE, DICT = "$datetime", "$date", "$bytes", "$set", "$tuple", "$dict"
TAGS = frozenset({DATETIME, DATE, BYTES, SET, TUPLE, DICT})


class UntaggableError(TypeError, CollectorsError):
    """A value neither JSON nor one of the tagged types; names where it is."""


def _set_items(values: set | frozenset, path: str) -> list[Any]:
    items = [to_tagged(value, f"{path}{{}}") for value in values]
    try:  # a stable order, so equal sets store equal text
        return [items[i] for i in sorted(range(len(items)), key=lambda i: repr(items[i]))]
    except TypeError:
        return items


def to_tagged(value: Any, path: str = "state") -> Any:
    """``value`` as plain JSON data (tags where needed); ``UntaggableError`` naming the path
    of a value that is neither (a ``complex``, an object)."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, datetime):  # before date: a datetime is a date
        return {DATETIME: value.isoformat()}
    if isinstance(value, date):
        return {DATE: value.isoformat()}
    if isinstance(value, bytes | bytearray):
        return {BYTES: base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, set):
        return {SET: _set_items(value, path)}
    if isinstance(value, tuple):
        return {TUPLE: [to_tagged(item, f"{path}[{n}]") for n, item in enumerate(value)]}
    if isinstance(value, list):
        return [to_tagged(item, f"{path}[{n}]") for n, item in enumerate(value)]
    if isinstance(value, dict):
        plain_keys = all(isinstance(key, str) for key in value)
        if plain_keys and not (len(value) == 1 and next(iter(value)) in TAGS):
            return {key: to_tagged(item, f"{path}[{key!r}]") for key, item in value.items()}
        return {
            DICT: [
                [to_tagged(key, f"{path} key {key!r}"), to_tagged(item, f"{path}[{key!r}]")]
                for key, item in value.items()
            ]
        }
    raise UntaggableError(
        f"{path} is a {type(value).__name__}, which cannot be stored: use JSON values, "
        f"datetime, date, bytes, set, tuple or dicts of them"
    )


def _hashable(value: Any) -> Any:
    """A decoded key or set member: lists (from old plain-JSON data) become tuples."""
    return tuple(_hashable(item) for item in value) if isinstance(value, list) else value


def from_tagged(value: Any) -> Any:
    """The Python value of tagged JSON data (the inverse of :func:`to_tagged`)."""
    if isinstance(value, list):
        return [from_tagged(item) for item in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        tag, inner = next(iter(value.items()))
        if tag == DATETIME:
            return datetime.fromisoformat(inner)
        if tag == DATE:
            return date.fromisoformat(inner)
        if tag == BYTES:
            return base64.b64decode(inner, validate=True)
        if tag == SET:
            return {_hashable(from_tagged(item)) for item in inner}
        if tag == TUPLE:
            return tuple(from_tagged(item) for item in inner)
        if tag == DICT:
            return {_hashable(from_tagged(key)): from_tagged(item) for key, item in inner}
    return {key: from_tagged(item) for key, item in value.items()}
