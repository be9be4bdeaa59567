"""Push-item validation: the JSON Schema shipped with the package, plus a fast path.

Validating 100,000 items one by one with jsonschema takes seconds, so every item first goes
through :func:`fast_check`, a hand-written test that only ever answers "valid" for items the
schema accepts. Anything it does not vouch for is handed to the compiled jsonschema validator,
which has the last word and writes the error message. The tests check that the two agree.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from functools import lru_cache
from importlib.resources import files
from typing import Any

from jsonschema import Draft202012Validator, ValidationError
from jsonschema.exceptions import best_match

from ..exceptions import CollectorsError
from .batch import PushItemBatch

SCHEMA_FILE = "pushitem.schema.json"


@lru_cache(maxsize=1)
def load_schema() -> dict[str, Any]:
    """The push-item schema, read from the package data once."""
    return json.loads((files("collector_app") / "schemas" / SCHEMA_FILE).read_text("utf-8"))


SCHEMA: dict[str, Any] = load_schema()
#: The 18 states a push item can be in (the last three are legacy states).
STATES: tuple[str, ...] = tuple(SCHEMA["properties"]["state"]["enum"])
#: Optional keys that hold a string or null.
NULLABLE_STRINGS: tuple[str, ...] = ("src", "dest", "origin", "build", "signing_key")

_VALIDATOR = Draft202012Validator(SCHEMA)  # compiled once: building one per item is slow
_STATE_SET = frozenset(STATES)
_MD5 = re.compile(r"[0-9a-f]{32}").fullmatch
_SHA256 = re.compile(r"[0-9a-f]{64}").fullmatch
_ENCODE = json.JSONEncoder(ensure_ascii=False, sort_keys=True, allow_nan=False).encode
_CHUNK = 1024  # lines joined per write to the spool


class PushItemError(ValidationError, ValueError, CollectorsError):
    """A push item that does not match the schema, or cannot be written as JSON.

    Also a ``jsonschema.ValidationError`` (what pushcollector raises), so code ported from it
    keeps catching it. ``index`` is the item's position in the batch; ``field`` the dotted
    path of the offending key, or ``None`` when the item as a whole is wrong.
    """

    def __init__(self, index: int, field: str | None, problem: str) -> None:
        where = f"push item {index}" + (f", field {field!r}" if field else "")
        path: list[int | str] = [index, *field.split(".")] if field else [index]
        super().__init__(f"{where}: {problem}", path=path)
        self.index = index
        self.field = field
        self.problem = problem

    def __reduce__(self):
        return (type(self), (self.index, self.field, self.problem))


def fast_check(item: Any) -> bool:
    """True only for items the schema accepts; False means "ask the schema".

    Exact types (``type(x) is str``) keep it strict: a ``str`` subclass is left to
    jsonschema, which accepts it. So the answer is never wrong, only sometimes unsure.
    """
    if type(item) is not dict:
        return False
    get = item.get
    if type(get("filename")) is not str:
        return False
    state = get("state")
    if type(state) is not str or state not in _STATE_SET:
        return False
    for key in NULLABLE_STRINGS:
        value = get(key)
        if value is not None and type(value) is not str:
            return False
    checksums = get("checksums")
    if checksums is not None:
        if type(checksums) is not dict:
            return False
        for key, value in checksums.items():
            if key == "md5":
                if type(value) is not str or not _MD5(value):
                    return False
            elif key == "sha256":
                if type(value) is not str or not _SHA256(value):
                    return False
            else:
                return False
    return True


def schema_error(index: int, item: Any) -> PushItemError | None:
    """The schema's verdict on one item: ``None`` if valid, else the error to raise."""
    error = best_match(_VALIDATOR.iter_errors(item))
    if error is None:
        return None
    path = [str(part) for part in error.absolute_path]
    if error.validator == "required" and isinstance(error.instance, Mapping):
        missing = [key for key in error.validator_value if key not in error.instance]
        return PushItemError(index, ".".join([*path, missing[0]]), "is required but missing")
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        known = error.schema.get("properties", {})
        extra = sorted(str(key) for key in error.instance if key not in known)
        allowed = ", ".join(sorted(known))
        return PushItemError(
            index, ".".join([*path, extra[0]]), f"is not allowed here (only {allowed})"
        )
    return PushItemError(index, ".".join(path) or None, error.message)


def check_item(index: int, item: Any) -> None:
    """Raise :class:`PushItemError` naming ``index`` and the field if ``item`` is invalid."""
    if fast_check(item):
        return
    error = schema_error(index, item)
    if error is not None:
        raise error


def _serialisation_error(index: int, item: Mapping, exc: Exception) -> PushItemError:
    """Name the top-level key whose value cannot be written, when one can be found."""
    for key, value in item.items():
        try:
            (_ENCODE(value) + "\n").encode("utf-8")
        except (TypeError, ValueError, RecursionError):
            return PushItemError(index, str(key), f"is not JSON-serialisable: {exc}")
    return PushItemError(index, None, f"is not JSON-serialisable: {exc}")


def _nul_path(value: Any, path: list[str]) -> list[str] | None:
    """The path to the first string (key or value) holding a NUL character, if any."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, Mapping):
        for key, item in value.items():
            if "\x00" in str(key):
                return [*path, str(key)]
            found = _nul_path(item, [*path, str(key)])
            if found is not None:
                return found
    elif isinstance(value, list | tuple):
        for position, item in enumerate(value):
            found = _nul_path(item, [*path, str(position)])
            if found is not None:
                return found
    return None


def _check_nul(index: int, item: Mapping) -> None:
    """NUL is refused on every backend, because PostgreSQL cannot store it in text or jsonb."""
    path = _nul_path(item, [])
    if path is not None:
        raise PushItemError(
            index,
            ".".join(path),
            "contains a NUL character, which not every recorder can store (PostgreSQL cannot)",
        )


def prepare_push_items(items: Iterable[Mapping[str, Any]]) -> PushItemBatch:
    """Validate and serialise a whole batch before a backend sees any of it.

    The lines go to a spooled temporary file (memory up to a few MiB, then disk), so a
    generator of any length is handled in bounded memory, and one bad item anywhere means
    the caller gets a :class:`PushItemError` and nothing is written.
    """
    if isinstance(items, Mapping):
        raise TypeError(
            "update_push_items takes an iterable of push items, got a single mapping "
            "(wrap it in a list)"
        )
    if isinstance(items, str | bytes) or not isinstance(items, Iterable):
        raise TypeError(
            f"update_push_items takes an iterable of push items, got {type(items).__name__}"
        )
    batch = PushItemBatch()
    try:
        chunk: list[bytes] = []
        for index, item in enumerate(items):
            if not fast_check(item):
                error = schema_error(index, item)
                if error is not None:
                    raise error
            try:
                line = _ENCODE(item)
                chunk.append((line + "\n").encode("utf-8"))
            except (TypeError, ValueError, RecursionError) as exc:
                raise _serialisation_error(index, item, exc) from exc
            if "\\u0000" in line:  # a NUL, or a literal backslash-u0000: look closer
                _check_nul(index, item)
            if len(chunk) >= _CHUNK:
                batch.add_lines(chunk)
                chunk = []
        batch.add_lines(chunk)
    except BaseException:
        batch.close()
        raise
    return batch
