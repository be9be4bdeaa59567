"""``Collector``: pushcollector's API, over any recorder backend.

Errors in the arguments (an invalid push item, a file name leaving the run folder, content
that is not bytes) are raised **at the call**, as pushcollector does, and nothing is written.
Everything the backend itself does (writing files, database rows) is reported through the
returned future, which fails with the backend's own exception.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from concurrent.futures import Future, wait
from typing import Any

from ..state.fence import check_open
from . import registry, runs
from .base import RecorderBackend, check_filename, coerce_content
from .batch import PushItemBatch
from .validation import prepare_push_items

#: The recording methods; a backend may implement only some (the others raise
#: ``NotImplementedError`` when called, as pushcollector's base class does).
RECORDING_METHODS = ("update_push_items", "attach_file", "append_file")

_lazy_lock = threading.Lock()


def _done(value: Any = None, error: BaseException | None = None) -> Future:
    future: Future = Future()
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(value)
    return future


class Collector:
    """Records push items and files; get one with :meth:`Collector.get`.

    Class methods manage the backends (as pushcollector's do) and the recording run;
    instances wrap one backend object, validate what they are given, and return a
    ``concurrent.futures.Future`` from each of the three recording methods.

    As in pushcollector, ``Collector`` is also the abstract base custom backends may
    subclass (``class MyBackend(Collector)``, built with no arguments): a method such a
    subclass does not override raises ``NotImplementedError``, and so does every recording
    method of a bare ``Collector()``.
    """

    #: The wrapped backend; ``None`` on a bare ``Collector()`` or a backend subclass.
    backend: Any = None
    name: str = ""

    def __init__(self, backend: Any = None, name: str = "") -> None:
        self.backend = backend
        self.name = name

    def _pending_futures(self) -> tuple[threading.Lock, list[Future]]:
        """The futures a ``with`` block waits for; made on first use, since a backend
        subclass need not call ``Collector.__init__``."""
        state = self.__dict__.get("_pending_state")
        if state is None:
            with _lazy_lock:
                state = self.__dict__.setdefault("_pending_state", (threading.Lock(), []))
        return state

    def _backend_method(self, method: str) -> Any:
        """The backend's ``method``, or ``NotImplementedError`` naming what is missing."""
        backend = self.backend
        if backend is None:  # a bare Collector(), or a subclass not overriding ``method``
            raise NotImplementedError(
                f"{type(self).__name__} does not implement {method}(): it is the abstract "
                f"base of recorder backends; use Collector.get() or override {method}"
            )
        found = getattr(backend, method, None)
        inherited = (  # a Collector subclass that left ``method`` to the base class
            getattr(type(backend), method, None) is getattr(Collector, method)
            and getattr(backend, "backend", None) is None
        )
        if not callable(found) or inherited:
            raise NotImplementedError(
                f"recorder backend {self.name or type(backend).__name__!r} does not "
                f"implement {method}()"
            )
        return found

    def __repr__(self) -> str:
        return f"<Collector {self.name or type(self.backend).__name__}>"

    # -- the registry (pushcollector's class methods) --

    @classmethod
    def get(cls, backend: str | None = None) -> Collector:
        """A collector on backend ``backend`` (a name), or on the default one when ``None``.

        Each call builds a new backend object; outside a recording run, built-in backends
        then record into a run of their own (one folder per ``get()`` for ``local``, as
        pushcollector did). Raises ``ValueError`` naming an unknown backend.
        """
        resolved = registry.default_backend() if backend is None else backend
        return Collector(registry.resolve(resolved)(), name=resolved)

    @classmethod
    def register_backend(cls, name: str, factory: registry.Factory | None) -> None:
        """Add or override backend ``name`` (any no-argument callable that builds one);
        ``None`` unregisters it and, if it was the default, resets the default."""
        registry.register_backend(name, factory)

    @classmethod
    def set_default_backend(cls, name: str | None) -> None:
        """Make ``name`` the backend ``get()`` uses; ``None`` restores
        ``COLLECTORS["RECORDER"]``. Raises ``ValueError`` for an unknown name."""
        registry.set_default_backend(name)

    @classmethod
    def default_backend(cls) -> str:
        return registry.default_backend()

    # -- recording runs --

    @classmethod
    def new_run(cls, run_id: str | None = None) -> runs.Run:
        """Start a new recording run for this process (or join ``run_id``); collectors
        obtained from now on record into it. Usable as ``with Collector.new_run(): ...``."""
        return runs.new_run(run_id)

    @classmethod
    def current_run(cls) -> runs.Run:
        """The recording run of this process; starts one (made current) if there is none,
        so collectors obtained from then on share it."""
        return runs.current_run()

    # -- recording --

    def update_push_items(self, items: Iterable[Mapping[str, Any]]) -> Future:
        """Record push items (any iterable, generators included): all of them, or, when one
        is invalid, none of them and a :class:`PushItemError` raised here. From a run or a
        component call that has ended: ``RunEndedError`` here, nothing written."""
        check_open(f"recorder {self.name or type(self.backend).__name__}: update_push_items")
        if not isinstance(self.backend, RecorderBackend):
            self._backend_method("update_push_items")
        batch = prepare_push_items(items)
        return self._call(self._write_batch, batch)

    def attach_file(self, filename: str, content: bytes | str) -> Future:
        """Create or replace ``filename`` in the run (``str`` content is written as UTF-8)."""
        check_open(f"recorder {self.name or type(self.backend).__name__}: attach_file")
        method = self._backend_method("attach_file")
        name = check_filename(filename)
        return self._call(method, name, coerce_content(name, content))

    def append_file(self, filename: str, content: bytes | str) -> Future:
        """Add ``content`` at the end of ``filename`` in the run, creating it if needed."""
        check_open(f"recorder {self.name or type(self.backend).__name__}: append_file")
        method = self._backend_method("append_file")
        name = check_filename(filename)
        return self._call(method, name, coerce_content(name, content))

    def _write_batch(self, batch: PushItemBatch) -> Any:
        with batch:
            if isinstance(self.backend, RecorderBackend):
                return self.backend.write_push_items(batch)
            return self.backend.update_push_items(list(batch.items()))

    def _call(self, method, *args: Any) -> Future:
        """Run a backend method; a plain result or exception becomes a done future, a
        returned future is passed on (and waited for when a ``with`` block ends)."""
        try:
            value = method(*args)
        except Exception as exc:  # the backend's own exception, traceback and all
            return _done(error=exc)
        if isinstance(value, Future):
            lock, pending = self._pending_futures()
            with lock:
                pending[:] = [f for f in pending if not f.done()]
                pending.append(value)
            return value
        return _done(value)

    # -- context manager --

    def __enter__(self) -> Collector:
        enter = getattr(self.backend, "__enter__", None)
        if enter is not None:
            enter()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        lock, pending = self._pending_futures()
        with lock:
            waiting, pending[:] = list(pending), []
        wait(waiting)
        exit_ = getattr(self.backend, "__exit__", None)
        if exit_ is not None:
            exit_(*exc_info)
        elif isinstance(self.backend, RecorderBackend):
            self.backend.close()
