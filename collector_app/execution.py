"""Run one component call with a time limit, in a daemon thread.

Why threads: components often talk to the database and to Redis, and a forked child would
share those connections with its parent. Each thread has database connections of its own
(closed when the call ends), so a component does not see what the caller has not committed.
A call over its time limit is abandoned: the run moves on at once, the thread is daemonic (it
never keeps the process alive) and receives a ``ComponentTimeout`` exception, which stops
Python code at its next instruction. A call blocked inside C code (a socket read,
``time.sleep``) stops only when that call returns; its result is discarded.
"""

from __future__ import annotations

import ctypes
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connections


class ComponentTimeout(Exception):
    """A component ran past its ``timeout``."""


@dataclass
class CallOutcome:
    value: Any = None
    error: BaseException | None = None
    traceback: str = ""
    timed_out: bool = False
    duration: float = 0.0


def _interrupt(thread: threading.Thread) -> None:
    if thread.ident is not None:
        ctypes.pythonapi.PyThreadState_SetAsyncExc(
            ctypes.c_ulong(thread.ident), ctypes.py_object(ComponentTimeout)
        )


def call_with_timeout(
    function: Callable[[], Any], timeout: float | None, name: str = "component"
) -> CallOutcome:
    """Call ``function`` in a daemon thread; give up after ``timeout`` seconds."""
    outcome = CallOutcome()
    finished = threading.Event()

    def target() -> None:
        try:
            outcome.value = function()
        except BaseException as exc:  # SystemExit or KeyboardInterrupt in a component too
            outcome.error = exc
            outcome.traceback = traceback.format_exc()
        finally:
            connections.close_all()  # this thread's own connections, if it opened any
            finished.set()

    started = time.monotonic()
    thread = threading.Thread(target=target, name=f"collector {name}", daemon=True)
    thread.start()
    if not finished.wait(timeout):
        _interrupt(thread)
        outcome = CallOutcome(
            error=ComponentTimeout(f"{name} did not finish within {timeout:g}s"),
            timed_out=True,
        )
    outcome.duration = time.monotonic() - started
    return outcome
