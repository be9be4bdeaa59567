"""Value types of a trigger session: task configurations and task instances.

Both serialise to plain JSON-compatible dicts so every storage backend can keep them without
pickle, and both round-trip exactly (``from_dict(x.to_dict()) == x``).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

STATUS_UNSTARTED = "unstarted"
STATUS_SCHEDULED = "scheduled"
STATUS_RUNNING = "running"
STATUS_FINISHED = "finished"
STATUS_FAILED = "failed"
STATUS_SKIPPED = "skipped"
STATUS_REPLAYED = "replayed"
STATUS_ABANDONED = "abandoned"

STATUSES = (
    STATUS_UNSTARTED,
    STATUS_SCHEDULED,
    STATUS_RUNNING,
    STATUS_FINISHED,
    STATUS_FAILED,
    STATUS_SKIPPED,
    STATUS_REPLAYED,
    STATUS_ABANDONED,
)
RESOLVED_STATUSES = frozenset({STATUS_FINISHED, STATUS_SKIPPED, STATUS_REPLAYED, STATUS_ABANDONED})

# Which status may follow which. Anything else is refused, so a late or duplicated job delivery
# can never move a finished instance back to running, and never cascades twice.
ALLOWED_TRANSITIONS: dict[str, frozenset[str]] = {
    STATUS_UNSTARTED: frozenset({STATUS_SCHEDULED, STATUS_ABANDONED}),
    STATUS_SCHEDULED: frozenset({STATUS_RUNNING, STATUS_FAILED, STATUS_ABANDONED}),
    STATUS_RUNNING: frozenset({STATUS_FINISHED, STATUS_FAILED, STATUS_SKIPPED}),
    STATUS_FAILED: frozenset({STATUS_REPLAYED, STATUS_SKIPPED}),
    STATUS_FINISHED: frozenset(),
    STATUS_SKIPPED: frozenset(),
    STATUS_REPLAYED: frozenset(),
    STATUS_ABANDONED: frozenset(),
}

# The directives a task configuration understands; anything else is kept in ``extras``.
DIRECTIVES = ("after", "run", "andEvery", "unless", "withParams", "using")


@dataclass
class TaskConfig:
    """One task of a session, as given to ``TriggerManager.update_configuration``."""

    name: str
    after: list[str]
    run: str
    and_every: str | None = None
    unless: list[str] = field(default_factory=list)
    with_params: dict[str, Any] = field(default_factory=dict)
    using: str | None = None
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def triggers_required(self) -> frozenset[str]:
        """Every trigger an instance waits for: ``after`` plus ``andEvery``."""
        required = set(self.after)
        if self.and_every:
            required.add(self.and_every)
        return frozenset(required)

    def uses_trigger(self, trigger_name: str) -> bool:
        return trigger_name in self.triggers_required or trigger_name in self.unless

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = dict(copy.deepcopy(self.extras))
        data["after"] = list(self.after)
        data["run"] = self.run
        if self.and_every is not None:
            data["andEvery"] = self.and_every
        if self.unless:
            data["unless"] = list(self.unless)
        if self.with_params:
            data["withParams"] = copy.deepcopy(self.with_params)
        if self.using is not None:
            data["using"] = self.using
        return data

    @classmethod
    def from_dict(cls, name: str, data: Mapping[str, Any]) -> TaskConfig:
        """Build from already-validated directives (see ``triggers.configuration``)."""
        extras = {key: copy.deepcopy(value) for key, value in data.items() if key not in DIRECTIVES}
        return cls(
            name=name,
            after=list(data.get("after") or []),
            run=data["run"],
            and_every=data.get("andEvery"),
            unless=list(data.get("unless") or []),
            with_params=copy.deepcopy(dict(data.get("withParams") or {})),
            using=data.get("using"),
            extras=extras,
        )


@dataclass
class TaskInstance:
    """One run (or pending run) of a task, named ``<task>#<n>``."""

    STATUS_UNSTARTED: ClassVar[str] = STATUS_UNSTARTED
    STATUS_SCHEDULED: ClassVar[str] = STATUS_SCHEDULED
    STATUS_RUNNING: ClassVar[str] = STATUS_RUNNING
    STATUS_FINISHED: ClassVar[str] = STATUS_FINISHED
    STATUS_FAILED: ClassVar[str] = STATUS_FAILED
    STATUS_SKIPPED: ClassVar[str] = STATUS_SKIPPED
    STATUS_REPLAYED: ClassVar[str] = STATUS_REPLAYED
    STATUS_ABANDONED: ClassVar[str] = STATUS_ABANDONED

    name: str
    task_name: str
    status: str = STATUS_UNSTARTED
    kwargs: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)

    @property
    def number(self) -> int:
        return int(self.name.rsplit("#", 1)[1])

    @property
    def is_resolved(self) -> bool:
        return self.status in RESOLVED_STATUSES

    @property
    def result(self) -> Any:
        return self.metadata.get("result")

    @property
    def depth(self) -> int:
        return int(self.metadata.get("depth", 0))

    @property
    def parent(self) -> str | None:
        return self.metadata.get("parent")

    @property
    def logs(self) -> list[dict[str, Any]]:
        return list(self.metadata.get("logs", []))

    @property
    def has_unresolved_logs(self) -> bool:
        """Errors or worse that nobody has marked as looked at yet, on an instance that still
        matters (replayed, skipped and abandoned ones were dealt with another way)."""
        return bool(
            self.metadata.get("log_level", 0) >= 40
            and not self.metadata.get("logs_resolved", False)
            and self.status not in (STATUS_REPLAYED, STATUS_SKIPPED, STATUS_ABANDONED)
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "task_name": self.task_name,
            "status": self.status,
            "kwargs": copy.deepcopy(self.kwargs),
            "metadata": copy.deepcopy(self.metadata),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskInstance:
        return cls(
            name=data["name"],
            task_name=data["task_name"],
            status=data["status"],
            kwargs=copy.deepcopy(dict(data.get("kwargs") or {})),
            metadata=copy.deepcopy(dict(data.get("metadata") or {})),
        )


def instance_name(task_name: str, number: int) -> str:
    return f"{task_name}#{number}"


def task_name_of(name: str) -> str:
    return name.rsplit("#", 1)[0]


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """Merge ``override`` into a copy of ``base``; nested mappings merge, other values replace."""
    merged: dict[str, Any] = copy.deepcopy(dict(base))
    for key, value in override.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged
