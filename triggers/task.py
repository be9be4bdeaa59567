"""What a task is: a function of one ``context`` argument, or a ``TriggerTask`` subclass.

Tasks are named in configurations by a name registered with ``register_task`` (or listed in
``TRIGGERS["TASKS"]``) or by a dotted path; ``resolve_task`` turns either into a callable.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

from django.utils.module_loading import import_string

from .conf import triggers_setting
from .exceptions import TriggersError
from .storable import check_storable
from .task_helpers import TaskHelpers

if TYPE_CHECKING:
    from .manager import TriggerManager

TaskCallable = Callable[["TaskContext"], Mapping[str, Any] | None]

_registry: dict[str, str | TaskCallable | type] = {}
_prefixes: dict[str, Callable[[str], TaskCallable]] = {}


class SkipTask(Exception):
    """Raised (through ``context.skip``) by a task that decides it has nothing to do."""

    def __init__(
        self,
        reason: str = "",
        cascade: bool = False,
        result: Mapping | None = None,
        metadata: Mapping | None = None,
    ):
        super().__init__(reason)
        self.reason = reason
        self.cascade = cascade
        self.result = dict(result or {})
        #: Merged into the instance's metadata (the framework's ``raise self.skip({...})``).
        self.metadata = dict(metadata or {})


class RetryTask(Exception):
    """Raised (through ``context.retry``) by a task that wants another try later."""

    def __init__(
        self,
        reason: str = "",
        replacement_kwargs: Mapping | None = None,
        cooldown: float | None = 0.0,
        max_retries: int | None = None,
        metadata: Mapping | None = None,
    ):
        super().__init__(reason)
        self.reason = reason
        self.replacement_kwargs = check_retry_kwargs(replacement_kwargs)
        self.cooldown = check_cooldown(0.0 if cooldown is None else cooldown)
        self.max_retries = check_max_retries(max_retries)
        #: Merged into the failed instance's metadata before it is replayed.
        self.metadata = dict(metadata or {})


class MaxRetriesExceeded(TriggersError):
    """A task asked for one more retry than its ``max_retries`` allows."""


#: Longest cooldown a retry may ask for (a year): anything longer is a unit mistake.
MAX_COOLDOWN = 366 * 24 * 3600.0


def check_retry_kwargs(replacement_kwargs: Any) -> dict[str, Any] | None:
    """Replacement kwargs of a retry: ``{trigger: {kwargs}}``, storable, or ``None``."""
    if replacement_kwargs is None:
        return None
    if not isinstance(replacement_kwargs, Mapping):
        raise TypeError(
            f"retry(replacement_kwargs=...) takes a mapping of trigger names to kwargs, "
            f"not {type(replacement_kwargs).__name__}"
        )
    check_storable(replacement_kwargs, "retry(replacement_kwargs=...)", TypeError)
    for trigger, kwargs in replacement_kwargs.items():
        if not isinstance(kwargs, Mapping):
            raise TypeError(
                f"retry(replacement_kwargs=...): the kwargs of trigger {trigger!r} must be a "
                f"mapping, not {type(kwargs).__name__}"
            )
    return dict(replacement_kwargs)


def check_cooldown(cooldown: Any) -> float:
    if isinstance(cooldown, bool) or not isinstance(cooldown, int | float):
        raise TypeError(f"retry(cooldown=...) is a number of seconds, not {cooldown!r}")
    value = float(cooldown)
    if not math.isfinite(value) or value < 0 or value > MAX_COOLDOWN:
        raise ValueError(
            f"retry(cooldown={cooldown!r}): a cooldown is a finite number of seconds from 0 "
            f"to {MAX_COOLDOWN:g}"
        )
    return value


def check_max_retries(max_retries: Any) -> int | None:
    if max_retries is None:
        return None
    if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
        raise ValueError(
            f"retry(max_retries={max_retries!r}): the limit is a whole number from 0 up"
        )
    return max_retries


class InstanceLogger:
    """A logger whose records are kept on the task instance (level, message, time).

    Records are forwarded to the ``triggers.task.<task>`` logger as well, so they also reach the
    project's normal logging.
    """

    def __init__(self, task_name: str, instance_name: str) -> None:
        self.records: list[dict[str, Any]] = []
        self._instance_name = instance_name
        self._logger = logging.getLogger(f"triggers.task.{task_name}")

    def log(self, level: int, message: str, *args: Any, exc_info: Any = None) -> None:
        text = message % args if args else str(message)
        self.records.append(
            {
                "level": level,
                "level_name": logging.getLevelName(level),
                "message": text,
                "time": datetime.now(UTC).isoformat(),
            }
        )
        self._logger.log(level, "[%s] %s", self._instance_name, text, exc_info=exc_info)

    def debug(self, message: str, *args: Any) -> None:
        self.log(logging.DEBUG, message, *args)

    def info(self, message: str, *args: Any) -> None:
        self.log(logging.INFO, message, *args)

    def warning(self, message: str, *args: Any) -> None:
        self.log(logging.WARNING, message, *args)

    def error(self, message: str, *args: Any) -> None:
        self.log(logging.ERROR, message, *args)

    def exception(self, message: str, *args: Any) -> None:
        self.log(logging.ERROR, message, *args, exc_info=True)

    def critical(self, message: str, *args: Any) -> None:
        self.log(logging.CRITICAL, message, *args)


class TaskSignals(TaskHelpers):
    """``skip`` and ``retry``, offered by the context and by ``TriggerTask`` alike.

    Both raise at once, so ``context.skip(...)`` and the framework's ``raise self.skip({...})``
    behave the same. A mapping in first place is the framework's metadata argument.
    """

    def skip(
        self,
        reason: str | Mapping = "",
        cascade: bool = False,
        result: Mapping | None = None,
        *,
        metadata: Mapping | None = None,
    ) -> NoReturn:
        """Stop here and mark the instance skipped (optionally firing ``result`` onwards);
        ``metadata`` is merged into the instance's metadata."""
        if isinstance(reason, Mapping):
            metadata = {**reason, **(metadata or {})}
            reason = ""
        raise SkipTask(reason, cascade=cascade, result=result, metadata=metadata)

    def retry(
        self,
        reason: str | BaseException | None = "",
        replacement_kwargs: Mapping | None = None,
        cooldown: float | None = 0.0,
        max_retries: int | None = None,
        *,
        metadata: Mapping | None = None,
        exc: BaseException | None = None,
    ) -> NoReturn:
        """Stop here and run again later as a replay (depth + 1), after ``cooldown`` seconds.

        ``max_retries`` defaults to the task class's ``max_retries``, else 3. ``metadata`` is
        merged into the failed instance; ``exc`` (or an exception in first place, as the
        framework's ``self.retry(exc)``) is recorded as the reason.
        """
        self._check_retry_limit(max_retries)
        if isinstance(reason, BaseException):
            exc = reason
            reason = ""
        if exc is not None:
            reason = reason or f"{type(exc).__name__}: {exc}"
        raise RetryTask(str(reason or ""), replacement_kwargs, cooldown, max_retries, metadata)

    def _check_retry_limit(self, max_retries: int | None) -> None:
        """Functions' retries are limited by the manager when it records the outcome."""


@dataclass
class TaskContext(TaskSignals):
    """Everything a running task may use; passed as the task's only argument."""

    trigger_kwargs: dict[str, Any]
    instance_name: str
    task_name: str
    session_uid: str
    manager: TriggerManager
    logger: InstanceLogger
    depth: int = 0
    extras: dict[str, Any] = field(default_factory=dict)

    def _task_context(self) -> TaskContext:
        return self


class TriggerTask(TaskSignals):
    """Base class for tasks that prefer a class: implement ``_run(self, context)``.

    ``name`` is the class's dotted path unless the class sets one, so ``"run": Task.name``
    works as it did with the framework's Celery tasks.
    """

    #: How many times a retry may replay this task before it fails for good.
    max_retries: int = 3
    name: ClassVar[str] = ""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "name" not in cls.__dict__:
            cls.name = f"{cls.__module__}.{cls.__qualname__}"

    def __init__(self) -> None:
        self.context: TaskContext | None = None

    def _task_context(self) -> TaskContext:
        if self.context is None:
            raise RuntimeError(f"{type(self).__name__} is not running: it has no context yet")
        return self.context

    def __call__(self, context: TaskContext) -> Mapping[str, Any] | None:
        self.context = context
        return self._run(context)

    def _check_retry_limit(self, max_retries: int | None) -> None:
        """Past ``max_retries``, ``retry()`` raises ``MaxRetriesExceeded`` at the call, as the
        framework's task classes did."""
        limit = self.max_retries if max_retries is None else max_retries
        depth = self._task_context().depth
        if depth >= limit:
            raise MaxRetriesExceeded(
                f"task {type(self).__name__} asked for retry #{depth + 1}, but max_retries "
                f"is {limit}"
            )

    def _run(self, context: TaskContext) -> Mapping[str, Any] | None:
        raise NotImplementedError(f"{type(self).__name__} must implement _run(self, context)")


def register_task(name: str, target: str | TaskCallable | type | None = None):
    """Register a task under a short name; usable as ``@register_task("name")``."""

    def decorator(obj):
        _registry[name] = obj
        return obj

    if target is not None:
        _registry[name] = target
        return target
    return decorator


def register_task_prefix(prefix: str, factory: Callable[[str], TaskCallable]) -> None:
    """Resolve every ``run`` starting with ``prefix`` as ``factory(rest of the name)``.

    Lets another app offer a family of tasks (``pipeline:<name>``) without
    ``triggers`` knowing about it. ``factory`` raises ``LookupError`` for unknown names.
    """
    _prefixes[prefix] = factory


def unregister_task(name: str) -> None:
    _registry.pop(name, None)


def registered_tasks() -> dict[str, Any]:
    tasks: dict[str, Any] = dict(triggers_setting("TASKS"))
    tasks.update(_registry)
    return tasks


def resolve_task(run: str) -> TaskCallable:
    """Turn a ``run`` directive into a callable taking a context; ``ImportError`` if it can't."""
    for prefix, factory in _prefixes.items():
        if run.startswith(prefix):
            try:
                return factory(run[len(prefix) :])
            except LookupError as exc:
                raise ImportError(str(exc)) from exc
    target: Any = registered_tasks().get(run, run)
    if isinstance(target, str):
        if "." not in target:
            raise ImportError(
                f"{target!r} is neither a registered task name nor a dotted path "
                f"(registered: {', '.join(sorted(registered_tasks())) or 'none'})"
            )
        target = import_string(target)
    if isinstance(target, type):
        if not issubclass(target, TriggerTask):
            raise ImportError(f"{run!r} is a class but not a triggers.task.TriggerTask subclass")
        task_class = target
        return lambda context: task_class()(context)
    if not callable(target):
        raise ImportError(f"{run!r} resolves to {type(target).__name__}, which is not callable")
    return target


def max_retries_of(run: str) -> int | None:
    """The class-level retry limit of a ``TriggerTask``, when ``run`` names one."""
    target: Any = registered_tasks().get(run, run)
    try:
        if isinstance(target, str):
            target = import_string(target)
    except ImportError:
        return None
    if isinstance(target, type) and issubclass(target, TriggerTask):
        return target.max_retries
    return None
