"""Errors raised by the trigger engine; each names what was wrong."""

from __future__ import annotations


class TriggersError(Exception):
    """Base class of every error the ``triggers`` app raises on purpose."""


class ConfigurationError(TriggersError, ValueError):
    """A task configuration is malformed; names the task and the directive."""

    def __init__(self, task: str | None, directive: str | None, message: str) -> None:
        self.task = task
        self.directive = directive
        where = []
        if task is not None:
            where.append(f"task {task!r}")
        if directive is not None:
            where.append(f"directive {directive!r}")
        prefix = ", ".join(where)
        super().__init__(f"{prefix}: {message}" if prefix else message)


class _UnknownInSession(TriggersError, KeyError):
    what = "thing"

    def __init__(self, name: str, session_uid: str) -> None:
        self.name = name
        self.session_uid = session_uid
        super().__init__(name)

    def __str__(self) -> str:
        return f"session {self.session_uid!r} has no {self.what} named {self.name!r}"


class UnknownInstanceError(_UnknownInSession):
    """No instance of that name exists in the session (a ``KeyError``)."""

    what = "task instance"


class UnknownTaskError(_UnknownInSession):
    """No task of that name is configured in the session (a ``KeyError``)."""

    what = "task"


class InvalidKwargsError(TriggersError, ValueError):
    """Trigger kwargs (or a task result) that cannot be stored as JSON, or name unknown triggers."""


class TooManyInstancesError(TriggersError, ValueError):
    """A fire would create more instances of a task than ``MAX_INSTANCES_PER_TASK`` allows."""


class InvalidStatusTransition(TriggersError, ValueError):
    def __init__(self, instance: str, current: str, requested: str) -> None:
        self.instance = instance
        self.current = current
        self.requested = requested
        super().__init__(f"task instance {instance!r} cannot go from {current!r} to {requested!r}")


class UnknownBackendError(TriggersError, ValueError):
    """A storage or runner name that no built-in, entry point or dotted path provides."""

    def __init__(self, kind: str, name: str, known: list[str], reason: str = "") -> None:
        self.kind = kind
        self.name = name
        self.known = known
        detail = f" ({reason})" if reason else ""
        super().__init__(
            f"unknown {kind} {name!r}{detail}; known {kind}s: {', '.join(sorted(known)) or 'none'}"
            f" (or give a dotted path to a class)"
        )


class StaleWriteError(TriggersError):
    """A write was refused because this writer no longer holds the session's lock.

    The manager retries the whole operation on fresh state; it surfaces only when retries run out.
    """


class SessionLockTimeout(TriggersError):
    """The session's lock could not be acquired in time."""


class CorruptSessionError(TriggersError):
    """A stored record could not be read back; names its key."""


class DispatchError(TriggersError):
    """The operation was saved, but handing its ready instances to their runner failed.

    Typically Redis dropped between the write and the enqueue. Nothing is lost: the instances
    stay ``scheduled`` and recovery (``triggers_recover``, or the worker's own pass) enqueues
    them once Redis is back. ``detail`` says what failed, without the session's name.
    """

    def __init__(self, session_uid: str, failed: dict[str, list[str]], cause: Exception) -> None:
        self.session_uid = session_uid
        self.failed = failed
        self.cause = cause
        handed = "; ".join(
            f"{', '.join(names)} to runner {runner!r}" for runner, names in failed.items()
        )
        self.detail = (
            f"handing {handed} failed ({type(cause).__name__}: {cause}); they stay scheduled "
            f"and `manage.py triggers_recover` enqueues them once Redis is back"
        )
        super().__init__(f"session {session_uid!r}: the change was saved, but {self.detail}")
