"""The status index of a session: per-task, per-status counts and pages of instances in the
admin's order (failed first), read without loading every instance.

Backends keep it in the same write as the instances (``cache`` on Redis: sorted sets and a hash
updated by the commit script; ``db``: the indexed ``status`` column). ``full_scan_*`` is the
fallback for backends without an index: it reads the whole session.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, overload

from ..session_index import task_counts
from ..types import RESOLVED_STATUSES, STATUSES, TaskInstance

if TYPE_CHECKING:
    from .base import BaseTriggerStorage

#: Page order: what needs a look first; every other status comes last (rank 9), by creation.
STATUS_RANK = {"failed": 0, "running": 1, "scheduled": 2, "unstarted": 3}
OTHER_RANK = 9
#: The statuses of each rank, in page order.
PAGE_GROUPS: tuple[tuple[str, ...], ...] = (
    *((status,) for status in STATUS_RANK),
    tuple(s for s in STATUSES if s not in STATUS_RANK),
)


def rank(status: str) -> int:
    return STATUS_RANK.get(status, OTHER_RANK)


def created_epoch(inst: TaskInstance) -> float:
    """When the instance was created, in seconds since the epoch (0 when unknown)."""
    text = inst.created
    if not isinstance(text, str):
        return 0.0
    try:
        return datetime.fromisoformat(text).timestamp()
    except ValueError:
        return 0.0


def page_key(inst: TaskInstance) -> tuple[int, float, str]:
    """The page order: status rank, then creation time, then name."""
    return (rank(inst.status), created_epoch(inst), inst.name)


@dataclass
class StatusSummary:
    """What the session page shows about the whole session, without its instances."""

    #: task name -> status -> number of instances (statuses with none left out).
    tasks: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Some instance has error logs nobody marked resolved.
    unresolved_logs: bool = False

    @property
    def counts(self) -> dict[str, int]:
        """Status -> number of instances, every status listed."""
        counts = dict.fromkeys(STATUSES, 0)
        for per_status in self.tasks.values():
            for status, n in per_status.items():
                counts[status] = counts.get(status, 0) + n
        return counts

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    def total_of(self, task: str | None) -> int:
        if task is None:
            return self.total
        return sum(self.tasks.get(task, {}).values())

    @property
    def resolved(self) -> bool:
        """Every instance resolved (and at least one): polling may stop."""
        counts = self.counts
        return self.total > 0 and all(
            n == 0 for status, n in counts.items() if status not in RESOLVED_STATUSES
        )


def summarize(instances: Sequence[TaskInstance] | Iterator[TaskInstance]) -> StatusSummary:
    """The summary of a full scan (backends without an index)."""
    instances = list(instances)
    return StatusSummary(
        tasks=task_counts(instances),
        unresolved_logs=any(inst.has_unresolved_logs for inst in instances),
    )


def full_scan_page(
    storage: BaseTriggerStorage, offset: int, limit: int, task: str | None = None
) -> list[TaskInstance]:
    """A page read the slow way: every instance, sorted (for backends without an index)."""
    instances = [inst for inst in storage if task is None or inst.task_name == task]
    return sorted(instances, key=page_key)[offset : offset + limit]


class InstancePages(Sequence[TaskInstance]):
    """A session's instances in page order, as a sequence Django's ``Paginator`` can slice:
    its length comes from the summary and a slice reads only that page through the index."""

    def __init__(
        self, storage: BaseTriggerStorage, summary: StatusSummary, task: str | None = None
    ) -> None:
        self.storage = storage
        self.task = task
        self._total = summary.total_of(task)

    def __len__(self) -> int:
        return self._total

    def count(self) -> int:  # type: ignore[override]  # what Paginator asks first
        return self._total

    @overload
    def __getitem__(self, index: int) -> TaskInstance: ...

    @overload
    def __getitem__(self, index: slice) -> list[TaskInstance]: ...

    def __getitem__(self, index: int | slice) -> TaskInstance | list[TaskInstance]:
        if isinstance(index, int):
            found = self.storage.instances_page(index, 1, self.task)
            if not found:
                raise IndexError(index)
            return found[0]
        start, stop, step = index.indices(self._total)
        if step != 1:
            raise ValueError("InstancePages slices have no step")
        if stop <= start:
            return []
        return self.storage.instances_page(start, stop - start, self.task)
