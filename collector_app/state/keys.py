"""State keys: one per *configured* collector (name + configuration identity), not per class.

``collector_key("feed", {"url": "https://a"})`` is ``"feed:3f1c0a9b2e71"``: the name, a colon
and the first 12 hex digits of the SHA-256 of the configuration's canonical JSON (sorted keys,
no whitespace). The same class configured twice has two keys, so two states; a changed
configuration starts from the default state (its old state stays, visible and resettable).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

#: Longest collector name (``CollectorState.collector``); the key adds 13 characters.
MAX_NAME_LENGTH = 200
SHORT_DIGEST = 12


def _encode_extra(value: Any) -> Any:
    if isinstance(value, dt.datetime | dt.date | dt.time):  # TOML has them in configurations
        return value.isoformat()
    raise TypeError(f"{type(value).__name__} is not JSON ({value!r})")


def canonical_json(value: Any) -> str:
    """The one JSON text of ``value``: equal configurations give equal text, hence equal keys."""
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
        default=_encode_extra,
    )


def check_name(name: Any) -> str:
    """Refuse names that cannot key a state (empty, too long, not text, control characters)."""
    if not isinstance(name, str) or not name.strip():
        raise ValueError(f"a collector name is a non-empty string, not {name!r}")
    if len(name) > MAX_NAME_LENGTH:
        raise ValueError(
            f"collector name {name[:40]!r}... is {len(name)} characters long "
            f"(at most {MAX_NAME_LENGTH})"
        )
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        raise ValueError(f"collector name {name!r} contains control characters")
    return name


def config_digest(config: Any, name: str = "?") -> str:
    """The full SHA-256 (hex) of the configuration's canonical JSON."""
    try:
        text = canonical_json(config)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"the configuration of collector {name!r} must be JSON to identify its state: {exc}"
        ) from exc
    return hashlib.sha256(text.encode()).hexdigest()


def collector_key(name: str, config: Any = None) -> str:
    """``<name>:<12 hex digits of the configuration's digest>``."""
    check_name(name)
    return f"{name}:{config_digest(config, name)[:SHORT_DIGEST]}"
