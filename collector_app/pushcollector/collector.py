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

REQUIRED_METHODS = ("attach_file", "append_file")


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
    """

    def __init__(self, backend: Any, name: str = "") -> None:
        required = REQUIRED_METHODS
        if not isinstance(backend, RecorderBackend):
            required = ("update_push_items", *required)
        missing = [method for method in required if not callable(getattr(backend, method, None))]
        if missing:
            raise TypeError(
                f"recorder backend {name or type(backend).__name__!r} built {backend!r}, "
                f"which has no {', '.join(missing)} method(s)"
            )
        self.backend = backend
        self.name = name
        self._pending: list[Future] = []
        self._pending_lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<Collector {self.name or type(self.backend).__name__}>"

    # -- the registry (pushcollector's class methods) --

    @classmethod
    def get(cls, name: str | None = None) -> Collector:
        """A collector on backend ``name``, or on the default backend when ``None``.

        Raises ``ValueError`` naming an unknown backend.
        """
        resolved = registry.default_backend() if name is None else name
        return cls(registry.resolve(resolved)(), name=resolved)

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
        return runs.current_run()

    # -- recording --

    def update_push_items(self, items: Iterable[Mapping[str, Any]]) -> Future:
        """Record push items (any iterable, generators included): all of them, or, when one
        is invalid, none of them and a :class:`PushItemError` raised here. From a run or a
        component call that has ended: ``RunEndedError`` here, nothing written."""
        check_open(f"recorder {self.name or type(self.backend).__name__}: update_push_items")
        batch = prepare_push_items(items)
        return self._call(self._write_batch, batch)

    def attach_file(self, filename: str, content: bytes | str) -> Future:
        """Create or replace ``filename`` in the run (``str`` content is written as UTF-8)."""
        check_open(f"recorder {self.name or type(self.backend).__name__}: attach_file")
        name = check_filename(filename)
        return self._call(self.backend.attach_file, name, coerce_content(name, content))

    def append_file(self, filename: str, content: bytes | str) -> Future:
        """Add ``content`` at the end of ``filename`` in the run, creating it if needed."""
        check_open(f"recorder {self.name or type(self.backend).__name__}: append_file")
        name = check_filename(filename)
        return self._call(self.backend.append_file, name, coerce_content(name, content))

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
            with self._pending_lock:
                self._pending = [f for f in self._pending if not f.done()]
                self._pending.append(value)
            return value
        return _done(value)

    # -- context manager --

    def __enter__(self) -> Collector:
        enter = getattr(self.backend, "__enter__", None)
        if enter is not None:
            enter()
        return self

    def __exit__(self, *exc_info: Any) -> None:
        with self._pending_lock:
            pending, self._pending = self._pending, []
        wait(pending)
        exit_ = getattr(self.backend, "__exit__", None)
        if exit_ is not None:
            exit_(*exc_info)
        elif isinstance(self.backend, RecorderBackend):
            self.backend.close()
