"""How one run of a task instance ended, as handed from the executor to the manager."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


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
