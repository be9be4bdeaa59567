"""How one run of a task instance ended, as handed from the executor to the manager."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from .types import now


@dataclass
class Finished:
    result: dict[str, Any] = field(default_factory=dict)


@dataclass
class Failed:
    exc_type: str
    message: str
    traceback: str = ""
    #: ``module.Name`` of the exception, stored as the framework's ``exceptionType``.
    qualified_type: str = ""


@dataclass
class Skipped:
    reason: str = ""
    cascade: bool = False
    result: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass
class Retry:
    reason: str = ""
    replacement_kwargs: dict[str, Any] | None = None
    cooldown: float = 0.0
    max_retries: int = 3
    metadata: dict[str, Any] = field(default_factory=dict)


Outcome = Finished | Failed | Skipped | Retry


def error_record(message: str) -> dict[str, Any]:
    """A log record at ERROR, for failures the engine itself records."""
    return {"level": logging.ERROR, "level_name": "ERROR", "message": message, "time": now()}
