"""Recording runs: what groups the push items and files of one job.

A run is process-wide: :func:`new_run` starts one (named pipelines, class collectors and
``with Collector.new_run():`` do), and it lasts until the next; every collector obtained
meanwhile, in any thread, records into it (one folder for ``local``, one ``RecordingRun``
row for ``db``). A collector keeps the run that was current when it was made. Outside a
recording run, each collector gets a run of its own (:func:`standalone_run`): one folder per
``Collector.get()``, as pushcollector did. Other processes join a run by its id::

    run = new_run()                 # in the parent; pass run.id to the workers
    new_run(run_id)                 # in each worker: same folder, same row

``with new_run():`` scopes a run: the previous one is current again afterwards. A forked
child inherits its parent's current run.
"""

from __future__ import annotations

import re
import secrets
import threading
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

RUN_ID_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
#: Names a run id may not take (the ``local`` recorder's link to the newest run).
RESERVED_IDS = frozenset({"latest"})

_lock = threading.Lock()
_current: Run | None = None


@dataclass(frozen=True)
class Run:
    """One recording run: ``id`` names its folder and its database row."""

    id: str
    started: datetime
    _previous: Run | None = field(default=None, compare=False, repr=False)

    def __enter__(self) -> Run:
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Make the run that was current before this one current again."""
        global _current
        with _lock:
            if _current == self:  # equal, not identical: see new_run
                _current = self._previous


def check_run_id(run_id: object) -> str:
    """Run ids become folder names: one safe path component, no ``..``, not ``latest``."""
    if not isinstance(run_id, str):
        raise TypeError(f"a run id must be a str, got {type(run_id).__name__}")
    if not RUN_ID_PATTERN.fullmatch(run_id) or run_id in RESERVED_IDS:
        raise ValueError(
            f"run id {run_id!r} is not allowed: use 1 to 100 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit, and not 'latest'"
        )
    return run_id


def generate_run_id(now: datetime) -> str:
    """A timestamp (sortable, as pushcollector names its folders) plus a random suffix, so
    runs started in the same second by different processes never share a folder."""
    return f"{now:%Y%m%d%H%M%S}-{secrets.token_hex(3)}"


def new_run(run_id: str | None = None) -> Run:
    """Start a run (or join ``run_id``, e.g. one started by another process) and make it the
    current run of this process. Returns it; use it in ``with`` to scope it."""
    global _current
    now = datetime.now(UTC)
    run_id = generate_run_id(now) if run_id is None else check_run_id(run_id)
    with _lock:
        # The previous run is kept without its own predecessor, so a process that starts
        # run after run does not hold on to all of them; scopes still unwind in order.
        previous = _current if _current is None else replace(_current, _previous=None)
        run = Run(id=run_id, started=now, _previous=previous)
        _current = run
    return run


def active_run() -> Run | None:
    """The run of this process, if one was started; ``None`` outside a recording run."""
    with _lock:
        return _current


def standalone_run(run_id: str | None = None) -> Run:
    """A run for one collector outside a recording run; it does not become current."""
    now = datetime.now(UTC)
    return Run(id=generate_run_id(now) if run_id is None else check_run_id(run_id), started=now)


def current_run() -> Run:
    """The run of this process, started now (and made current) if there is none yet."""
    global _current
    with _lock:
        if _current is None:
            now = datetime.now(UTC)
            _current = Run(id=generate_run_id(now), started=now)
        return _current
