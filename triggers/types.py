"""Value types of a trigger session: task configurations and task instances.

Both serialise to plain JSON-compatible dicts so every storage backend can keep them without
pickle, and both round-trip exactly (``from_dict(x.to_dict()) == x``).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, ClassVar

from .exceptions import InvalidStatusTransition
from .storable import storable_text

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


def now() -> str:
    """The current time as stored in instance timestamps (ISO 8601, UTC)."""
    return datetime.now(UTC).isoformat()


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


class TriggerSet(list):
    """A list of trigger names that also answers like a set (the triggers framework kept
    ``after`` and ``unless`` as sets): ``issubset``, ``&``, ``|``, ``-`` and equality with a
    set compare the names whatever their order."""

    def __eq__(self, other: object) -> bool:
        if isinstance(other, set | frozenset):
            return set(self) == other
        return list.__eq__(self, other)

    __hash__ = None

    def issubset(self, other: Any) -> bool:
        return set(self).issubset(other)

    def issuperset(self, other: Any) -> bool:
        return set(self).issuperset(other)

    def __and__(self, other: Any) -> set[str]:
        return set(self) & set(other)

    def __or__(self, other: Any) -> set[str]:
        return set(self) | set(other)

    def __sub__(self, other: Any) -> set[str]:
        return set(self) - set(other)


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

    def __post_init__(self) -> None:
        self.after = TriggerSet(self.after)
        self.unless = TriggerSet(self.unless)

    @property
    def extra(self) -> dict[str, Any]:
        """The triggers framework's name for ``extras``."""
        return self.extras

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

    # Metadata keys, named as the triggers framework named them. The engine's own spellings
    # (``exc_type``, ``traceback``, ``log_level``, ``logs_resolved``) are kept too; properties
    # below read either, so sessions written by either keep reading right.
    META_ACTUAL_KWARGS: ClassVar[str] = "actualKwargs"
    META_COOLDOWN: ClassVar[str] = "cooldown"
    META_DEPTH: ClassVar[str] = "depth"
    META_EXCEPTION_INFO: ClassVar[str] = "exceptionInfo"
    META_EXCEPTION_TYPE: ClassVar[str] = "exceptionType"
    META_LOG_LEVEL: ClassVar[str] = "logLevel"
    META_LOGS_RESOLVED: ClassVar[str] = "logsResolved"
    META_PARENT: ClassVar[str] = "parent"
    META_RESULT: ClassVar[str] = "result"
    META_TIMESTAMPS: ClassVar[str] = "timestamps"
    TIMESTAMP_CREATED: ClassVar[str] = "created"
    TIMESTAMP_LAST_MODIFIED: ClassVar[str] = "lastModified"
    LOG_LEVEL_THRESHOLD: ClassVar[int] = 40

    name: str
    task_name: str
    status: str = STATUS_UNSTARTED
    kwargs: dict[str, Any] = field(default_factory=dict)
    metadata: dict[str, Any] = field(default_factory=dict)
    #: The task's configuration, attached by the storage's reading API (not stored, not
    #: compared): what the framework's ``can_run`` / ``can_abandon`` need.
    config: TaskConfig | None = field(default=None, compare=False, repr=False)

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
    def log_level(self) -> int:
        """The highest level logged by this instance's runs (0 when nothing was logged)."""
        return int(self.metadata.get("log_level", self.metadata.get(self.META_LOG_LEVEL, 0)))

    @property
    def logs_relevant(self) -> bool:
        return self.status not in (STATUS_REPLAYED, STATUS_SKIPPED, STATUS_ABANDONED)

    @property
    def logs_resolved(self) -> bool:
        return bool(
            not self.logs_relevant
            or self.log_level < self.LOG_LEVEL_THRESHOLD
            or self.metadata.get("logs_resolved", self.metadata.get(self.META_LOGS_RESOLVED))
        )

    @property
    def has_unresolved_logs(self) -> bool:
        """Errors or worse that nobody has marked as looked at yet, on an instance that still
        matters (replayed, skipped and abandoned ones were dealt with another way)."""
        return not self.logs_resolved

    @property
    def exc_type(self) -> str | None:
        """The short name of the exception that failed this instance (either spelling)."""
        short = self.metadata.get("exc_type")
        if short is None and self.metadata.get(self.META_EXCEPTION_TYPE):
            short = str(self.metadata[self.META_EXCEPTION_TYPE]).rsplit(".", 1)[-1]
        return short

    @property
    def abandon_state(self) -> set[str]:
        """The ``unless`` triggers this instance has seen fire."""
        return set(self.metadata.get("abandon_state") or ())

    @property
    def last_modified(self) -> str | None:
        return (self.metadata.get(self.META_TIMESTAMPS) or {}).get(self.TIMESTAMP_LAST_MODIFIED)

    @property
    def created(self) -> str | None:
        return (self.metadata.get(self.META_TIMESTAMPS) or {}).get(
            self.TIMESTAMP_CREATED
        ) or self.metadata.get("created")

    # -- the triggers framework's questions; ``can_abandon`` / ``can_run`` need ``config`` --
    @property
    def can_schedule(self) -> bool:
        return self.status == STATUS_UNSTARTED

    @property
    def can_skip(self) -> bool:
        return self.status == STATUS_FAILED

    @property
    def can_replay(self) -> bool:
        return self.status == STATUS_FAILED

    def _config(self) -> TaskConfig:
        if self.config is None:
            raise AttributeError(
                f"{self.name} was not read through a storage, so it has no config; read it "
                f"with storage[{self.name!r}]"
            )
        return self.config

    @property
    def can_abandon(self) -> bool:
        unless = self._config().unless
        return bool(self.can_schedule and unless and set(unless) <= self.abandon_state)

    @property
    def can_run(self) -> bool:
        required = self._config().triggers_required
        return self.can_schedule and required <= self.kwargs.keys() and not self.can_abandon

    # -- status changes: every one goes through ``set_status`` and ALLOWED_TRANSITIONS ---------
    def set_status(self, status: str) -> None:
        """Move to ``status`` and stamp the time, or refuse the transition."""
        if status not in ALLOWED_TRANSITIONS[self.status]:
            raise InvalidStatusTransition(self.name, self.status, status)
        self.status = status
        self.touch(status)

    def require_status(self, status: str, action: str) -> None:
        """Refuse ``action`` (an ``InvalidStatusTransition``) unless the instance is ``status``."""
        if self.status != status:
            raise InvalidStatusTransition(self.name, self.status, action)

    def touch(self, status: str | None = None) -> None:
        """Stamp ``timestamps``: ``created`` once, ``lastModified`` and ``status`` each time."""
        stamp = now()
        timestamps = self.metadata.setdefault("timestamps", {})
        timestamps.setdefault("created", stamp)
        timestamps["lastModified"] = stamp
        if status:
            timestamps[status] = stamp

    def fail(
        self, exc_type: str, message: str, traceback: str = "", qualified_type: str = ""
    ) -> None:
        """Move to ``failed``, keeping the error under the engine's and the framework's keys."""
        self.set_status(STATUS_FAILED)
        trace = storable_text(traceback)
        self.metadata.update(
            exc_type=storable_text(exc_type),
            exc_message=storable_text(message),
            traceback=trace,
            exceptionType=storable_text(qualified_type or exc_type),
            exceptionInfo=trace,
        )

    def record_logs(self, records: list[dict[str, Any]]) -> None:
        """Append a run's log records; a new warning (or worse) reopens the instance's logs."""
        if not records:
            return
        records = [{**rec, "message": storable_text(str(rec["message"]))} for rec in records]
        self.metadata.setdefault("logs", []).extend(records)
        level = max(int(record["level"]) for record in records)
        self.metadata["log_level"] = max(level, int(self.metadata.get("log_level", 0)))
        if level >= logging.WARNING:
            self.metadata["logs_resolved"] = False

    def serialize(self) -> dict[str, Any]:
        """The instance in the triggers framework's stored shape."""
        return {
            "abandonState": sorted(self.abandon_state),
            "kwargs": copy.deepcopy(self.kwargs),
            "metadata": copy.deepcopy(self.metadata),
            "status": self.status,
            "task": self.task_name,
        }

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
