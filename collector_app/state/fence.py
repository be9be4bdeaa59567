"""Run fences: a write made for a run that has ended is refused, whatever thread makes it.

A component over its ``timeout`` is abandoned, but its thread may go on (a component's own
``except Exception:`` swallows ``ComponentTimeout``). Without a fence it would keep saving
state and recording after its run ended, even inside the next run. So every run and every
component call carries a *fence* in a ``contextvars`` variable, which the threads that run
the call inherit: the collector's lease (its token is the lease's owner) and the call's own
fence. A fence ends once and for all (the lease when the run releases it, a call when it
returns or times out); ``check_open`` refuses a write whose context holds an ended fence.

Threads a component starts itself inherit nothing: start them with
``contextvars.copy_context().run`` so their writes stay fenced by the run.
"""

from __future__ import annotations

import contextvars
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .base import LockLostError


class RunEndedError(LockLostError):
    """A write from a run (or a component call) that has ended: refused, nothing written."""


class CallFence:
    """One component call; ends when the call returns or is abandoned (timed out)."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.ended: str | None = None

    def end(self, reason: str) -> None:
        if self.ended is None:
            self.ended = reason

    def describe(self) -> str:
        return self.what

    def __repr__(self) -> str:
        return f"<CallFence {self.what!r} ended={self.ended!r}>"


class RunToken:
    """One holding of a collector's lease (one run): ``owner`` is the lock row's owner."""

    def __init__(self, name: str, owner: str) -> None:
        self.name = name
        self.owner = owner
        self.ended: str | None = None

    def describe(self) -> str:
        return f"the run of {self.name!r} (token {self.owner})"

    def __repr__(self) -> str:
        return f"<RunToken {self.name!r} {self.owner} ended={self.ended!r}>"


_fences: contextvars.ContextVar[tuple[Any, ...]] = contextvars.ContextVar(
    "collector_app_fences", default=()
)


def current_fences() -> tuple[Any, ...]:
    """The fences of the calling context, outermost first."""
    return _fences.get()


def push(fence: Any) -> None:
    _fences.set((*_fences.get(), fence))


def pop(fence: Any) -> None:
    _fences.set(tuple(found for found in _fences.get() if found is not fence))


@contextmanager
def fenced(fence: Any) -> Iterator[None]:
    """Run the block (and the threads it starts with a copy of the context) behind ``fence``."""
    push(fence)
    try:
        yield
    finally:
        pop(fence)


def check_open(action: str) -> None:
    """``RunEndedError`` naming ``action`` if any fence of the calling context has ended."""
    for fence in reversed(_fences.get()):  # the innermost (a call) says the most
        if fence.ended is not None:
            raise RunEndedError(
                f"{action} refused: {fence.describe()} {fence.ended}; nothing was written "
                f"(a write after its run ended would land in the next run)"
            )


def token_in_context(name: str) -> RunToken | None:
    """The innermost run token of lock ``name`` this context runs under, if any."""
    for fence in reversed(_fences.get()):
        if isinstance(fence, RunToken) and fence.name == name:
            return fence
    return None
