"""``load_state`` / ``save_state`` / ``make_default_state`` for every kind of collector.

n6's model, on JSON and a pluggable store: ``load_state()`` returns the stored state, or
``make_default_state()`` when nothing is stored (the default is *not* stored until a save);
``save_state(state)`` replaces it atomically, so saving after every update is the way to
resume right where a crashed run stopped. A stored state the collector cannot accept (bad
JSON, or not matching ``state_schema``) is a ``CorruptStateError``, never a silent reset.

* class collectors: ``StatefulCollectorMixin`` (``name`` + ``config`` key the state);
* pipeline components: every ``Component`` has the methods (pipeline + component id + options);
* trigger tasks: ``task_state(context)`` or ``StatefulTaskMixin`` for ``TriggerTask`` classes.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, ClassVar

from jsonschema import Draft202012Validator
from jsonschema.exceptions import SchemaError

from .. import leases
from . import fence
from .base import (
    BaseStateStore,
    CorruptStateError,
    InvalidStateError,
    NoState,
    StateError,
    StateRecord,
)
from .keys import SHORT_DIGEST, check_name, config_digest
from .stores import get_state_store

LOGGER = logging.getLogger(__name__)


class StateHandle:
    """The state of one configured collector: its key, store, default and validation."""

    def __init__(
        self,
        name: str,
        config: Any = None,
        *,
        make_default: Callable[[], Any] | None = None,
        validate: Callable[[Any], None] | None = None,
        store: BaseStateStore | None = None,
        lock_name: str | None = None,
    ) -> None:
        self.name = check_name(name)
        self.digest = config_digest(config, name)
        self.key = f"{name}:{self.digest[:SHORT_DIGEST]}"
        #: The lock that guards this state: the collector's own, or its pipeline's.
        self.lock_name = lock_name or name
        self._make_default = make_default or (lambda: None)
        self._validate = validate
        self._store = store

    @property
    def store(self) -> BaseStateStore:
        if self._store is None:
            self._store = get_state_store()
        return self._store

    def load(self) -> Any:
        """The stored state, or a fresh default (not stored, and a warning logged, as n6
        does); ``CorruptStateError`` if unusable."""
        try:
            return self.load_stored()
        except NoState as missing:
            LOGGER.warning(
                "collector %r: no stored state (%s); using the default state "
                "(make_default_state())",
                self.name,
                missing.location or self.key,
            )
            return self._make_default()

    def load_stored(self) -> Any:
        """The stored state; ``NoState`` if there is none, ``CorruptStateError`` if unusable."""
        try:
            state = self.store.load(self.key)
        except CorruptStateError as exc:
            exc.collector = self.name
            raise
        if self._validate is not None:
            try:
                self._validate(state)
            except ValueError as exc:
                raise CorruptStateError(
                    self.key, self.store.describe(self.key), str(exc), self.name
                ) from exc
        return state

    def save(self, state: Any) -> None:
        """Store ``state`` atomically; refused if invalid or if this run lost its lock."""
        if self._validate is not None:
            try:
                self._validate(state)
            except ValueError as exc:
                raise InvalidStateError(
                    f"collector {self.name!r} refused to save its state: {exc}"
                ) from exc
        fence.check_open(f"collector {self.name!r}: save_state")
        token = fence.token_in_context(self.lock_name)
        lease = leases.held_lease(self.lock_name)
        if token is None and lease is None:
            self.store.save(self.key, state, self.name, self.digest)  # run without a lock
            return
        if token is None or lease is None:
            raise fence.RunEndedError(
                f"collector {self.name!r}: save_state refused: it comes from outside the run "
                f"that holds the lock {self.lock_name!r} (a thread left over from an ended "
                f"run, or one started without contextvars.copy_context()); nothing was written"
            )
        with lease.fenced_write(token):  # the lease check compares the run's token
            self.store.save(self.key, state, self.name, self.digest)

    def reset(self) -> bool:
        return self.store.reset(self.key)

    def info(self) -> StateRecord | None:
        return self.store.info(self.key)

    def lock(
        self, mode: str | None = None, timeout: float | None = None, lease: float | None = None
    ) -> leases.CollectorLease:
        """``with handle.lock():`` runs this collector alone (see ``collector_app.leases``);
        ``lease`` defaults to ``leases.LEASE_SECONDS``."""
        seconds = leases.LEASE_SECONDS if lease is None else lease
        return leases.collector_lock(self.lock_name, mode, timeout, seconds)

    def __repr__(self) -> str:
        return f"<StateHandle {self.key!r}>"


def schema_validator(schema: Mapping[str, Any], owner: str) -> Callable[[Any], None]:
    """A function raising ``ValueError`` (with the path) when a state does not match."""
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        raise TypeError(f"{owner}.state_schema is not a valid JSON Schema: {exc.message}") from exc
    validator = Draft202012Validator(schema)

    def validate(state: Any) -> None:
        error = next(iter(sorted(validator.iter_errors(state), key=lambda e: list(e.path))), None)
        if error is not None:
            where = "".join(f"[{part!r}]" for part in error.path) or "the state"
            raise ValueError(f"{where} does not match the state schema: {error.message}")

    return validate


_validators: dict[int, tuple[Mapping[str, Any], Callable[[Any], None]]] = {}


def cached_validator(schema: Mapping[str, Any], owner: str) -> Callable[[Any], None]:
    """``schema_validator``, built once per schema: saving after every update stays cheap."""
    found = _validators.get(id(schema))
    if found is None or found[0] is not schema:  # the schema is kept, so its id is not reused
        found = _validators[id(schema)] = (schema, schema_validator(schema, owner))
    return found[1]


class StateMethods:
    """The three n6 methods plus ``reset_state``, on top of ``state_handle()``."""

    #: A JSON Schema the state must match (``None``: any JSON). Checked on load (a stored
    #: state that fails it is corrupt) and on save (an invalid state is never written).
    state_schema: ClassVar[Mapping[str, Any] | None] = None

    def state_handle(self) -> StateHandle:
        raise NotImplementedError(f"{type(self).__name__} must say where its state lives")

    def make_default_state(self) -> Any:
        """The state of a first run (nothing stored yet); ``None`` unless overridden."""
        return None

    def validate_state(self, state: Any) -> None:
        """Raise ``ValueError`` for a state this collector cannot use (``state_schema``)."""
        if self.state_schema is not None:
            cached_validator(self.state_schema, type(self).__name__)(state)

    def load_state(self) -> Any:
        return self.state_handle().load()

    def save_state(self, state: Any) -> None:
        self.state_handle().save(state)

    def reset_state(self) -> bool:
        """Forget the stored state (the next load gives the default); whether there was one."""
        return self.state_handle().reset()

    @property
    def state_key(self) -> str:
        return self.state_handle().key

    def _new_handle(self, name: str, config: Any, lock_name: str | None = None) -> StateHandle:
        return StateHandle(
            name,
            config,
            make_default=self.make_default_state,
            validate=self.validate_state,
            lock_name=lock_name,
        )


class StatefulCollectorMixin(StateMethods):
    """For class collectors: built with ``name`` and ``config``, which key the state.

    ``run_collector <name>`` builds ``Class(name=name, config=config)`` from
    ``COLLECTORS["CLASS_COLLECTORS"]`` and calls ``run()`` under the collector's lock; ``run``
    calls ``load_state()`` first and ``save_state()`` after each update (or at the end).
    """

    #: The config key of n6's state folder, where a state to migrate may be.
    LEGACY_STATE_DIR_KEY: ClassVar[str] = "state_dir"

    def __init__(
        self,
        *args: Any,
        name: str,
        config: Mapping[str, Any] | None = None,
        state_pickle_protocol: int | None = None,
        **kwargs: Any,
    ) -> None:
        """``state_pickle_protocol`` (n6's) is accepted and unused: states are JSON here."""
        super().__init__(*args, **kwargs)
        self.collector_name = check_name(name)
        self.config: dict[str, Any] = dict(config or {})
        self._state_handle: StateHandle | None = None

    def state_identity(self) -> Any:
        """What identifies the configuration: ``config`` without n6's ``state_dir`` (where an
        old state was, not what is collected); leave secrets out here."""
        return {k: v for k, v in self.config.items() if k != self.LEGACY_STATE_DIR_KEY}

    # -- n6 4.x compatibility: its state file, migrated on first load --

    def get_state_file_name(self) -> str:
        """n6's state file name, ``<module>.<Class qualname>.pickle``: where the state of
        this collector was in n6's ``state_dir`` (override it as in n6)."""
        module, qualname = type(self).__module__, type(self).__qualname__
        if module == "__main__":
            raise ValueError(
                f"'__main__' is not the proper name of the module containing {qualname}"
            )
        return f"{module}.{qualname}.pickle"

    def legacy_state_path(self) -> Path | None:
        """The n6 state file to migrate: ``config["state_dir"]`` / ``get_state_file_name()``;
        ``None`` without a ``state_dir``."""
        state_dir = self.config.get(self.LEGACY_STATE_DIR_KEY)
        return Path(state_dir).expanduser() / self.get_state_file_name() if state_dir else None

    def get_py2_pickle_load_kwargs(self) -> dict[str, Any]:
        """How a state pickled by n6's Python 2 version is decoded (n6's defaults)."""
        return {"encoding": "ascii", "errors": "strict"}

    def adjust_state_from_py2_pickle(self, state: Any) -> Any:
        """Fix up a state read from a Python 2 pickle (as in n6); unchanged by default."""
        return state

    def load_state(self) -> Any:
        """The stored state; else the n6 state file, migrated into the store; else the
        default (with a warning). A state file that cannot be migrated is an error."""
        handle = self.state_handle()
        try:
            return handle.load_stored()
        except NoState:
            path = self.legacy_state_path()
            if path is None or not path.exists():
                return handle.load()
        return self._migrate_n6_state(handle, path)

    def _migrate_n6_state(self, handle: StateHandle, path: Path) -> Any:
        from .n6 import LegacyStateError, is_py2_pickle, read_n6_state

        try:
            state = read_n6_state(path, self.get_py2_pickle_load_kwargs())
            if is_py2_pickle(path.read_bytes()[:2]):
                state = self.adjust_state_from_py2_pickle(state)
            handle.save(state)
        except LegacyStateError as exc:
            exc.collector = self.collector_name
            raise
        except InvalidStateError as exc:
            raise LegacyStateError(path, str(exc), self.collector_name) from exc
        LOGGER.warning(
            "collector %r: migrated the n6 state file %s into the %s; the file is no "
            "longer read and may be removed",
            self.collector_name,
            path,
            handle.store.describe(handle.key),
        )
        return state

    def state_handle(self) -> StateHandle:
        if self._state_handle is None:
            self._state_handle = self._new_handle(self.collector_name, self.state_identity())
        return self._state_handle

    def state_lock(
        self, mode: str | None = None, timeout: float | None = None
    ) -> leases.CollectorLease:
        return self.state_handle().lock(mode, timeout)


def component_state(component: Any) -> StateHandle:
    """A pipeline component's state: ``<pipeline>/<component id>`` + its type and options.

    Secret options are left out of the identity, so rotating a token keeps the state. The
    pipeline's lock guards it (a run of the pipeline holds it).
    """
    pipeline = getattr(component, "pipeline_name", None)
    if not pipeline:
        raise StateError(
            f"component {component.id!r} does not know its pipeline, which keys its state: "
            f"run it as a named pipeline (manage.py run_collector <name>)"
        )
    cached = getattr(component, "_state_handle", None)
    if cached is not None and cached.lock_name == pipeline:
        return cached
    options = {
        key: option.value for key, option in component.config.items() if not option.is_secret
    }
    handle = component._new_handle(
        f"{pipeline}/{component.id}", {"type": component.type, "options": options}, pipeline
    )
    component._state_handle = handle
    return handle


def task_state(
    context: Any,
    *,
    name: str | None = None,
    config: Any = None,
    make_default: Callable[[], Any] | None = None,
    schema: Mapping[str, Any] | None = None,
) -> StateHandle:
    """The state of a trigger task: by default ``<session uid>/<task name>`` (one per session).

    Give ``name`` (and ``config``) to share one state across sessions. Hold
    ``handle.lock()`` around the work so two instances never interleave.
    """
    return StateHandle(
        name or f"{context.session_uid}/{context.task_name}",
        config,
        make_default=make_default,
        validate=schema_validator(schema, "task_state") if schema is not None else None,
    )


class StatefulTaskMixin(StateMethods):
    """For ``TriggerTask`` subclasses (``class Fetch(StatefulTaskMixin, TriggerTask)``).

    The whole run holds the state's lock; ``state_name`` (default ``<session>/<task>``) and
    ``state_identity()`` (default ``None``) key the state.
    """

    state_name: ClassVar[str | None] = None
    context: Any

    def state_identity(self) -> Any:
        return None

    def state_handle(self) -> StateHandle:
        cached = getattr(self, "_state_handle", None)
        if cached is None:
            if getattr(self, "context", None) is None:
                raise RuntimeError(f"{type(self).__name__}: the state is known once it runs")
            name = self.state_name or f"{self.context.session_uid}/{self.context.task_name}"
            cached = self._state_handle = self._new_handle(name, self.state_identity())
        return cached

    def __call__(self, context: Any) -> Any:
        self.context = context
        with self.state_handle().lock():
            return super().__call__(context)  # type: ignore[misc]
