"""``SessionState``: the working set of one unit of work, read and written record by record.

The manager never loads a whole session to fire a trigger. It asks a state for the records an
operation touches (the configurations, the metadata, one task's unstarted instances, one
instance) and the state writes back only what changed, in one fenced commit. Backends supply
the fetch and write primitives; ``FullSessionState`` supplies them on top of the seed's
whole-session ``_load_from_backend`` / ``_save`` contract.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..exceptions import UnknownInstanceError
from ..session_index import count_deltas
from ..types import STATUS_UNSTARTED, TaskConfig, TaskInstance, instance_name, task_name_of
from .legacy_hooks import STATE_HOOKS, adopt

if TYPE_CHECKING:
    from .base import BaseTriggerStorage


@dataclass
class Changes:
    """What one unit of work writes; ``None`` means "unchanged"."""

    configs: dict[str, TaskConfig] | None = None
    metadata: dict[str, Any] | None = None
    counts: dict[str, int] | None = None
    instances: dict[str, TaskInstance] = field(default_factory=dict)
    unstarted: dict[str, list[str]] = field(default_factory=dict)
    #: How many instances entered (+) or left (-) each status.
    status_deltas: dict[str, int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(
            self.configs is not None
            or self.metadata is not None
            or self.counts is not None
            or self.instances
            or self.unstarted
        )


class SessionState(ABC):
    """Lazily fetched, write-tracked view of one session; committed by the storage."""

    #: Whether the backend writes each task's unstarted index (else it derives it on reading).
    stores_unstarted_index = True

    def __init__(self, uid: str) -> None:
        self.uid = uid
        self._configs: dict[str, TaskConfig] | None = None
        self._configs_dirty = False
        self._metadata: dict[str, Any] | None = None
        self._metadata_dirty = False
        self._counts: dict[str, int] | None = None
        self._counts_dirty = False
        self._instances: dict[str, TaskInstance | None] = {}
        self._original_status: dict[str, str] = {}
        self._dirty_instances: dict[str, TaskInstance] = {}
        self._unstarted: dict[str, list[str]] = {}
        self._dirty_unstarted: set[str] = set()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A state that implements a fetch primitive under its old underscore name keeps
        working (``ABCMeta.__new__`` adds a frame before this one: hence the stacklevel)."""
        super().__init_subclass__(**kwargs)
        adopt(cls, STATE_HOOKS, stacklevel=4)

    # -- primitives a backend provides ---------------------------------------------------------
    @abstractmethod
    def fetch_configs(self) -> dict[str, TaskConfig]: ...

    @abstractmethod
    def fetch_metadata(self) -> dict[str, Any]: ...

    @abstractmethod
    def fetch_counts(self) -> dict[str, int]: ...

    @abstractmethod
    def fetch_instances(self, names: list[str]) -> dict[str, TaskInstance]: ...

    @abstractmethod
    def fetch_unstarted(self, task_name: str) -> list[str]: ...

    # -- reads --------------------------------------------------------------------------------
    def prefetch(
        self,
        names: Iterable[str] = (),
        configs: bool = False,
        metadata: bool = False,
        counts: bool = False,
        unstarted: Iterable[str] = (),
    ) -> None:
        """Load what an operation is about to read; backends override it to use one round trip.

        ``unstarted``: task names whose unstarted index is read (saving an instance of the task
        updates it); ``counts``: the per-task instance counters (creating an instance reads them).
        """
        if configs:
            self.configs  # noqa: B018
        if metadata:
            self.metadata  # noqa: B018
        if counts:
            self.counts  # noqa: B018
        for task_name in unstarted:
            self.unstarted_names(task_name)
        self.instances(names)

    def lock_now(self) -> None:
        """Make sure the unit of work holds the session's lock (for backends that take it with
        their first read, to save a round trip); here the lock is held from the start."""
        return None

    @property
    def configs(self) -> dict[str, TaskConfig]:
        if self._configs is None:
            self._configs = self.fetch_configs()
        return self._configs

    @property
    def metadata(self) -> dict[str, Any]:
        """The session's metadata; call ``touch_metadata()`` after changing it."""
        if self._metadata is None:
            self._metadata = self.fetch_metadata()
        return self._metadata

    @property
    def counts(self) -> dict[str, int]:
        if self._counts is None:
            self._counts = self.fetch_counts()
        return self._counts

    def _remember(self, name: str, instance: TaskInstance | None) -> None:
        """Keep a fetched instance, and the status it had, to count status changes later."""
        self._instances[name] = instance
        if instance is not None:
            self._original_status[name] = instance.status

    def original_status(self, name: str) -> str | None:
        """The status an instance had when this unit of work read it (``None``: new here)."""
        return self._original_status.get(name)

    def find_instance(self, name: str) -> TaskInstance | None:
        if name not in self._instances:
            self._remember(name, self.fetch_instances([name]).get(name))
        return self._instances[name]

    def get_instance(self, name: str) -> TaskInstance:
        instance = self.find_instance(name)
        if instance is None:
            raise UnknownInstanceError(name, self.uid)
        return instance

    def instances(self, names: Iterable[str]) -> list[TaskInstance]:
        """Existing instances among ``names``, in the given order, fetched in one round trip."""
        names = list(names)
        missing = [name for name in names if name not in self._instances]
        if missing:
            fetched = self.fetch_instances(missing)
            for name in missing:
                self._remember(name, fetched.get(name))
        return [inst for inst in (self._instances[name] for name in names) if inst is not None]

    def instance_names_of_task(self, task_name: str) -> list[str]:
        return [instance_name(task_name, n) for n in range(self.counts.get(task_name, 0))]

    def all_instances(self) -> list[TaskInstance]:
        names = [name for task in sorted(self.counts) for name in self.instance_names_of_task(task)]
        return self.instances(names)

    def unstarted_names(self, task_name: str) -> list[str]:
        if task_name not in self._unstarted:
            self._unstarted[task_name] = self.fetch_unstarted(task_name)
        return self._unstarted[task_name]

    def unstarted_instances(self, task_name: str) -> list[TaskInstance]:
        return self.instances(self.unstarted_names(task_name))

    # -- writes -------------------------------------------------------------------------------
    def set_configs(self, configs: dict[str, TaskConfig]) -> None:
        self._configs = dict(configs)
        self._configs_dirty = True

    def touch_metadata(self) -> None:
        self.metadata  # noqa: B018 - make sure it is loaded before it is marked changed
        self._metadata_dirty = True

    def save_instance(self, instance: TaskInstance) -> None:
        """Record a changed (or new) instance and keep its task's unstarted index in step."""
        self._instances[instance.name] = instance
        self._dirty_instances[instance.name] = instance
        if not self.stores_unstarted_index and instance.task_name not in self._unstarted:
            return  # derived from the instances by the backend: nothing to read or write
        unstarted = self.unstarted_names(instance.task_name)
        if instance.status == STATUS_UNSTARTED and instance.name not in unstarted:
            unstarted.append(instance.name)
            self._dirty_unstarted.add(instance.task_name)
        elif instance.status != STATUS_UNSTARTED and instance.name in unstarted:
            unstarted.remove(instance.name)
            self._dirty_unstarted.add(instance.task_name)

    def new_instance(
        self,
        task_name: str,
        kwargs: dict[str, Any] | None = None,
        metadata: dict[str, Any] | None = None,
        status: str = STATUS_UNSTARTED,
    ) -> TaskInstance:
        number = self.counts.get(task_name, 0)
        self.counts[task_name] = number + 1
        self._counts_dirty = True
        instance = TaskInstance(
            name=instance_name(task_name, number),
            task_name=task_name,
            status=status,
            kwargs=copy.deepcopy(kwargs or {}),
            metadata=copy.deepcopy(metadata or {}),
        )
        instance.touch()
        self.save_instance(instance)
        return instance

    def install_instance(self, instance: TaskInstance) -> None:
        """Store an instance built elsewhere, keeping its task's counter ahead of its number."""
        if self.counts.get(instance.task_name, 0) <= instance.number:
            self.counts[instance.task_name] = instance.number + 1
            self._counts_dirty = True
        self.save_instance(instance)

    def clone_instance(self, instance: TaskInstance | str) -> TaskInstance:
        """An ``unstarted`` copy of an instance's kwargs, one level deeper, naming its parent."""
        original = self.get_instance(instance if isinstance(instance, str) else instance.name)
        return self.new_instance(
            task_name_of(original.name),
            original.kwargs,
            {"depth": original.depth + 1, "parent": original.name},
        )

    def keep_all(self) -> None:
        """Mark everything read so far as changed (for code that mutated it in place)."""
        for instance in [inst for inst in self._instances.values() if inst is not None]:
            self.save_instance(instance)
        self.touch_metadata()
        if self._configs is not None:
            self._configs_dirty = True

    def discard(self) -> None:
        """Forget every change: nothing is written when the unit of work ends."""
        self._dirty_instances.clear()
        self._dirty_unstarted.clear()
        self._configs_dirty = self._metadata_dirty = self._counts_dirty = False

    def status_deltas(self) -> dict[str, int]:
        """How many instances this write moves into (+) and out of (-) each status."""
        return count_deltas(self._original_status, self._dirty_instances)

    def changes(self) -> Changes:
        return Changes(
            configs=self._configs if self._configs_dirty else None,
            metadata=self._metadata if self._metadata_dirty else None,
            counts=self._counts if self._counts_dirty else None,
            instances=dict(self._dirty_instances),
            unstarted={task: list(self._unstarted[task]) for task in self._dirty_unstarted},
            status_deltas=self.status_deltas(),
        )


adopt(SessionState, STATE_HOOKS)


class FullSessionState(SessionState):
    """A state over the whole session, loaded at once through the seed's minimum contract."""

    def __init__(self, storage: BaseTriggerStorage) -> None:
        super().__init__(storage.uid)
        configs, instances, metadata = storage._load_from_backend()
        self._all_configs = dict(configs)
        self._all_instances = dict(instances)
        self._all_metadata = dict(metadata)

    def fetch_configs(self) -> dict[str, TaskConfig]:
        return copy.deepcopy(self._all_configs)

    def fetch_metadata(self) -> dict[str, Any]:
        return copy.deepcopy(self._all_metadata)

    def fetch_counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for instance in self._all_instances.values():
            counts[instance.task_name] = max(counts.get(instance.task_name, 0), instance.number + 1)
        return counts

    def fetch_instances(self, names: list[str]) -> dict[str, TaskInstance]:
        return {
            name: copy.deepcopy(self._all_instances[name])
            for name in names
            if name in self._all_instances
        }

    def fetch_unstarted(self, task_name: str) -> list[str]:
        found = [
            inst
            for inst in self._all_instances.values()
            if inst.task_name == task_name and inst.status == STATUS_UNSTARTED
        ]
        return [inst.name for inst in sorted(found, key=lambda inst: inst.number)]

    def apply(self, changes: Changes) -> tuple[dict, dict, dict]:
        """The whole session with ``changes`` applied, as the seed's three dicts."""
        configs = changes.configs if changes.configs is not None else self._all_configs
        metadata = changes.metadata if changes.metadata is not None else self._all_metadata
        instances = dict(self._all_instances)
        instances.update(changes.instances)
        return dict(configs), instances, dict(metadata)
