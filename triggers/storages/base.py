"""``BaseTriggerStorage``: the storage contract of a trigger session.

A third-party backend implements the seed's minimum, ``name``, ``_load_from_backend`` and
``_save``, and gets everything else from this class. That minimum moves the whole session on
every operation and is guarded by ``_lock_session``, which is process-local by default: a backend
shared by several processes must override ``take_lock`` / ``release_lock`` with a lock of
its own and refuse stale writes in ``commit``. The built-in backends go further: they provide a
``SessionState`` that reads and writes record by record (see ``triggers.storages.working_set``).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, ClassVar

from ..conf import triggers_setting
from ..exceptions import SessionLockTimeout, UnknownTaskError
from ..types import STATUS_UNSTARTED, TaskConfig, TaskInstance
from .legacy_hooks import STORAGE_HOOKS, adopt
from .status_index import StatusSummary, full_scan_page, summarize
from .working_set import Changes, FullSessionState, SessionState

logger = logging.getLogger("triggers.storages")

_process_locks: dict[tuple[type, str], threading.Lock] = {}
_process_locks_guard = threading.Lock()


def _process_lock(key: tuple[type, str]) -> threading.Lock:
    with _process_locks_guard:
        return _process_locks.setdefault(key, threading.Lock())


#: The longest session uid: the length of ``TriggerSession.uid``. A longer uid would run on the
#: ``cache`` backend but fail to register (PostgreSQL refuses it), leaving the session invisible.
MAX_UID_LENGTH = 255


def check_uid(uid: object) -> str:
    """Return ``uid`` if it can name a session everywhere, else raise a ``ValueError``."""
    if not isinstance(uid, str) or not uid:
        raise ValueError(f"a session uid is a non-empty string, not {uid!r}")
    if len(uid) > MAX_UID_LENGTH:
        raise ValueError(
            f"a session uid is at most {MAX_UID_LENGTH} characters, not {len(uid)} "
            f"({uid[:40]!r}...)"
        )
    return uid


class BaseTriggerStorage:
    """Manages the state of one session (``uid``): task configs, task instances, metadata."""

    #: Unique short name of the backend; matches its ``triggers.storages`` entry point.
    name: ClassVar[str] = ""

    def __init__(self, uid: str) -> None:
        self.uid = check_uid(uid)
        # The seed's attributes: what ``_save`` writes and ``_load_from_backend`` returns.
        self._configs: dict[str, TaskConfig] = {}
        self._instances: dict[str, TaskInstance] = {}
        self._metas: dict[str, Any] = {}
        #: The unit of work open by ``acquire_lock()``; reads go through it while it is open.
        self._locked_state: SessionState | None = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        """A backend that overrides a hook under its old underscore name keeps working."""
        super().__init_subclass__(**kwargs)
        adopt(cls, STORAGE_HOOKS)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name!r} uid={self.uid!r}>"

    # -- the minimum a backend implements ---------------------------------------------------
    def _load_from_backend(
        self,
    ) -> tuple[dict[str, TaskConfig], dict[str, TaskInstance], dict[str, Any]]:
        """Return ``(configs, instances, metadata)`` of session ``self.uid``."""
        raise NotImplementedError(f"{type(self).__name__} must implement _load_from_backend()")

    def _save(self) -> None:
        """Persist ``self._configs``, ``self._instances`` and ``self._metas``."""
        raise NotImplementedError(f"{type(self).__name__} must implement _save()")

    def _serialize(self) -> dict[str, Any]:
        """The session as JSON-compatible data, for backends that store one document."""
        return {
            "tasks": {name: config.to_dict() for name, config in self._configs.items()},
            "instances": {name: inst.to_dict() for name, inst in self._instances.items()},
            "metadata": self._metas,
        }

    @staticmethod
    def _deserialize(
        data: dict[str, Any] | None,
    ) -> tuple[dict[str, TaskConfig], dict[str, TaskInstance], dict[str, Any]]:
        """Inverse of ``_serialize``; ``None`` (nothing stored yet) is an empty session."""
        data = data or {}
        configs = {
            name: TaskConfig.from_dict(name, cfg) for name, cfg in data.get("tasks", {}).items()
        }
        instances = {
            name: TaskInstance.from_dict(inst) for name, inst in data.get("instances", {}).items()
        }
        return configs, instances, dict(data.get("metadata", {}))

    # -- units of work ------------------------------------------------------------------------
    @property
    def lock_timeout(self) -> float:
        return float(triggers_setting("LOCK_TIMEOUT"))

    @property
    def lock_wait(self) -> float:
        return float(triggers_setting("LOCK_WAIT"))

    def take_lock(self) -> Any:
        lock = _process_lock((type(self), self.uid))
        if not lock.acquire(timeout=self.lock_wait):
            raise SessionLockTimeout(
                f"session {self.uid!r} stayed locked for more than {self.lock_wait}s"
            )
        return lock

    def release_lock(self, token: Any) -> None:
        token.release()

    def new_state(self) -> SessionState:
        return FullSessionState(self)

    def new_locked_state(self, token: Any) -> SessionState:
        """The state of a unit of work holding lock ``token`` (``new_state`` unless the backend
        takes the lock lazily, with the state's first read)."""
        return self.new_state()

    def commit(self, state: SessionState, changes: Changes, token: Any) -> bool:
        """Write ``changes`` while holding the lock ``token``; refuse if the lock was lost.

        Returns True when the write also released the lock (saving a round trip).
        """
        assert isinstance(state, FullSessionState)
        self._configs, self._instances, self._metas = state.apply(changes)
        self._save()
        return False

    @contextmanager
    def transaction(self) -> Iterator[SessionState]:
        """One unit of work under the session's lock; written only if the block succeeds."""
        token = self.take_lock()
        released = False
        changes: Changes | None = None
        try:
            state = self.new_locked_state(token)
            yield state
            changes = state.changes()
            if changes:
                released = self.commit(state, changes, token)
        except BaseException:
            if not released:
                released = True
                self.abort(token)
            raise
        finally:
            if not released:
                self.release_lock(token)
        if changes:
            self.after_commit(changes)

    def abort(self, token: Any) -> None:
        """Give the lock up after a failed unit of work (nothing was written)."""
        self.release_lock(token)

    def after_commit(self, changes: Changes) -> None:
        """Keep the session table (the registry of all sessions) in step with this write."""
        from django.db import DatabaseError

        from .. import session_index

        try:
            if changes.configs is not None:
                session_index.register_session(self.uid, self.name)
                session_index.index_search_text(self.uid, tasks=sorted(changes.configs))
            if changes.status_deltas:
                session_index.apply_status_deltas(self, changes.status_deltas)
        except DatabaseError:
            # The session itself is saved; only its summary row lags (refresh_summary mends it).
            logger.warning(
                "session %s: the session table could not be updated", self.uid, exc_info=True
            )

    def snapshot(self) -> SessionState:
        """A read-only view taken without the lock, for inspection (inside ``acquire_lock()``,
        the locked, writable state)."""
        if self._locked_state is not None:
            return self._locked_state
        return self.new_state()

    # -- the triggers framework's whole-session writing API ------------------------------------
    @contextmanager
    def acquire_lock(self) -> Iterator[BaseTriggerStorage]:
        """Lock the session and yield this storage, writable: instances read through it are
        live objects; ``save()`` writes what changed when the block ends. Prefer the
        manager's operations, which write record by record."""
        if self._locked_state is not None:
            yield self  # re-entrant, as the framework's lock was for one storage object
            return
        with self.transaction() as state:
            state.lock_now()  # held for the whole block, even before its first read
            self._locked_state = state
            self._save_requested = False
            try:
                yield self
                if not self._save_requested:
                    state.discard()
            finally:
                self._locked_state = None

    def save(self) -> None:
        """Inside ``acquire_lock()``: keep every change made to what was read through it."""
        state = self._locked_state
        if state is None:
            raise RuntimeError(
                "save() writes what was changed inside 'with storage.acquire_lock():'; outside "
                "it, use the manager's operations (fire, update_instance_status, ...)"
            )
        state.keep_all()
        self._save_requested = True

    def update_configuration(self, configuration: dict[str, Any]) -> None:
        """Inside ``acquire_lock()``: merge task configurations (validated), as the framework."""
        from ..configuration import parse_configuration

        configs = parse_configuration(configuration)
        with self.acquire_lock():
            state = self.snapshot()
            state.set_configs({**state.configs, **configs})
            self.save()

    def invalidate_cache(self) -> None:
        """Nothing to drop: every read outside ``acquire_lock()`` goes to the backend."""

    def iter_instances(self) -> Iterator[TaskInstance]:
        return iter(self)

    def has_data(self) -> bool:
        """Whether the backend still holds this session. A registered session for which this is
        False lost its data (its server restarted empty, say). Backends that cannot tell say True.
        """
        return True

    def delete(self) -> None:
        """Remove everything the backend keeps for this session (used by ``triggers_purge``)."""
        with self._lock_session():
            self._configs, self._instances, self._metas = {}, {}, {}
            self._save()

    @contextmanager
    def _lock_session(self) -> Iterator[None]:
        token = self.take_lock()
        try:
            yield
        finally:
            self.release_lock(token)

    # -- the seed's public reading API ---------------------------------------------------------
    def __getitem__(self, name: str) -> TaskInstance:
        snapshot = self.snapshot()
        return self._configured(snapshot, [snapshot.get_instance(name)])[0]

    @staticmethod
    def _configured(snapshot: SessionState, instances: list[TaskInstance]) -> list[TaskInstance]:
        """Attach each instance's ``config`` (what the framework's ``can_run`` needs)."""
        if instances:
            configs = snapshot.configs
            for inst in instances:
                inst.config = configs.get(inst.task_name)
        return instances

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.snapshot().find_instance(name) is not None

    def __iter__(self) -> Iterator[TaskInstance]:
        snapshot = self.snapshot()
        return iter(self._configured(snapshot, snapshot.all_instances()))

    def __len__(self) -> int:
        return sum(self.snapshot().counts.values())

    @property
    def tasks(self) -> dict[str, TaskConfig]:
        return self.snapshot().configs

    @property
    def instances(self) -> dict[str, TaskInstance]:
        return {inst.name: inst for inst in self}

    @property
    def metadata(self) -> dict[str, Any]:
        return self.snapshot().metadata

    @property
    def latest_kwargs(self) -> dict[str, Any]:
        """Each trigger's latest kwargs; inside ``acquire_lock()`` the live, writable dict."""
        if self._locked_state is not None:
            return self._locked_state.metadata.setdefault("latest_kwargs", {})
        return dict(self.metadata.get("latest_kwargs", {}))

    def get_task(self, task: TaskConfig | str) -> TaskConfig:
        name = task if isinstance(task, str) else task.name
        try:
            return self.tasks[name]
        except KeyError:
            raise UnknownTaskError(name, self.uid) from None

    def create_instance(self, task_config: TaskConfig | str, **kwargs: Any) -> TaskInstance:
        """Create and store a new instance of a task; ``kwargs`` go to ``TaskInstance``."""
        task_name = task_config if isinstance(task_config, str) else task_config.name
        with self._writing() as state:
            if task_name not in state.configs:
                raise UnknownTaskError(task_name, self.uid)
            created = state.new_instance(
                task_name,
                kwargs=kwargs.get("kwargs"),
                metadata=kwargs.get("metadata"),
                status=kwargs.get("status", STATUS_UNSTARTED),
            )
            return self._configured(state, [created])[0]

    def clone_instance(self, task_instance: TaskInstance | str) -> TaskInstance:
        """Install an ``unstarted`` copy (depth + 1, ``parent`` set) as the task's next
        instance."""
        with self._writing() as state:
            return self._configured(state, [state.clone_instance(task_instance)])[0]

    @contextmanager
    def _writing(self) -> Iterator[SessionState]:
        """The open ``acquire_lock()`` state, or a unit of work of its own."""
        if self._locked_state is not None:
            yield self._locked_state
        else:
            with self.transaction() as state:
                yield state

    def get_instances_with_unresolved_logs(self) -> list[TaskInstance]:
        """Instances with an ERROR (or worse) log not marked resolved, that still matter."""
        return [inst for inst in self if inst.has_unresolved_logs]

    def get_unresolved_instances(self) -> list[TaskInstance]:
        return [inst for inst in self if not inst.is_resolved]

    def get_unresolved_tasks(self) -> list[TaskConfig]:
        """Tasks with no instance yet, or with at least one unresolved instance."""
        snapshot = self.snapshot()
        unresolved = []
        for name, config in snapshot.configs.items():
            names = snapshot.instance_names_of_task(name)
            if not names or any(not inst.is_resolved for inst in snapshot.instances(names)):
                unresolved.append(config)
        return unresolved

    # -- the status index (the admin's session page, ``triggers_status``) ------------------------
    def status_summary(self) -> StatusSummary:
        """Per-task, per-status counts and whether any log is unresolved. Backends with an index
        answer without reading instances; this fallback reads them all."""
        return summarize(iter(self))

    def instances_page(
        self, offset: int, limit: int, task: str | None = None
    ) -> list[TaskInstance]:
        """``limit`` instances from ``offset`` in page order (failed first, then running,
        scheduled, unstarted, the rest; each by creation), of one ``task`` or all."""
        return full_scan_page(self, offset, limit, task)

    def instances_of_task(self, task_config: TaskConfig | str) -> dict[str, TaskInstance]:
        """The task's instances by name, in creation order (a dict, as the framework's)."""
        snapshot = self.snapshot()
        task_name = task_config if isinstance(task_config, str) else task_config.name
        found = snapshot.instances(snapshot.instance_names_of_task(task_name))
        return {inst.name: inst for inst in self._configured(snapshot, found)}


adopt(BaseTriggerStorage, STORAGE_HOOKS)
