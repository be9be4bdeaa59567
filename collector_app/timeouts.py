"""Run one component call with a time limit, in a daemon thread.

Why threads: components often talk to the database and to Redis, and a forked child would
share those connections with its parent. Each thread has database connections of its own
(closed when the call ends), so a component does not see what the caller has not committed.
A call over its time limit is abandoned: the run moves on at once, the thread is daemonic (it
never keeps the process alive) and receives a ``ComponentTimeout`` exception, which stops
Python code at its next instruction. A call blocked inside C code (a socket read,
``time.sleep``) stops only when that call returns; its result is discarded.

A component may swallow ``ComponentTimeout`` (``except Exception:``) and go on: the call runs
behind a fence (``collector_app.state.fence``) that ends when the call returns or times out,
so whatever the abandoned thread still does, its ``save_state`` and recordings are refused.
"""

from __future__ import annotations

import contextvars
import ctypes
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connections

from .exceptions import CollectorsError
from .state.fence import CallFence, fenced


class ComponentTimeout(CollectorsError):
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
    call = CallFence(f"the call of {name}")

    def target() -> None:
        try:
            with fenced(call):
                outcome.value = function()
        except BaseException as exc:  # SystemExit or KeyboardInterrupt in a component too
            outcome.error = exc
            outcome.traceback = traceback.format_exc()
        finally:
            connections.close_all()  # this thread's own connections, if it opened any
            finished.set()

    started = time.monotonic()
    context = contextvars.copy_context()  # the run's token goes with the call
    thread = threading.Thread(target=context.run, args=(target,), name=f"collector {name}")
    thread.daemon = True
    thread.start()
    if not finished.wait(timeout):
        call.end(f"timed out after {timeout:g}s")  # before the thread can see the interrupt
        _interrupt(thread)
        outcome = CallOutcome(
            error=ComponentTimeout(f"{name} did not finish within {timeout:g}s"),
            timed_out=True,
        )
    else:
        call.end("has returned")
    outcome.duration = time.monotonic() - started
    return outcome
