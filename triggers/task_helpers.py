"""What the triggers framework's tasks could ask of their context, offered by ``TaskContext``
and ``TriggerTask`` alike so that framework task code runs unchanged.

``filter_kwargs`` takes the framework's filter specification (trigger -> key -> filter) and
applies each filter through its ``apply(value)`` method (the ``filters`` library's filters) or
by calling it; no filters library is required.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from types import SimpleNamespace
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .task import InstanceLogger, TaskContext
    from .types import TaskInstance


class TaskHelpers:
    """Mixed into ``TaskContext`` and ``TriggerTask``."""

    def _task_context(self) -> TaskContext:
        raise NotImplementedError

    @property
    def storage_uid(self) -> str:
        """The session's uid (the framework's name for it)."""
        return self._task_context().session_uid

    @property
    def task_instance(self) -> TaskInstance:
        """The running instance, as currently stored."""
        context = self._task_context()
        return context.manager.storage[context.instance_name]

    @property
    def request(self) -> SimpleNamespace:
        """``request.retries``: how many retries came before this run (its depth)."""
        return SimpleNamespace(retries=self._task_context().depth)

    @contextmanager
    def get_logger_context(
        self, logger: Any = None, context: Mapping[str, Any] | None = None
    ) -> Iterator[InstanceLogger]:
        """The instance's logger; an exception raised inside is logged, then re-raised."""
        log = self._task_context().logger
        try:
            yield log
        except Exception as exc:
            log.error("%s: %s", type(exc).__name__, exc)
            raise

    def filter_kwargs(self, filters: Mapping[str, Mapping[str, Any]]) -> dict[str, dict]:
        """Each trigger's kwargs with ``filters[trigger][key]`` applied to its values.

        Missing triggers and keys reach their filter as ``None``; keys without a filter are
        kept. Invalid values raise one ``ValueError`` naming every ``trigger.key``.
        """
        kwargs = self._task_context().trigger_kwargs or {}
        cleaned: dict[str, dict] = {}
        errors: dict[str, str] = {}
        for trigger, fields in filters.items():
            given = kwargs.get(trigger) or {}
            values = dict(given) if isinstance(given, Mapping) else {}
            for key, value_filter in fields.items():
                try:
                    values[key] = _apply(value_filter, values.get(key))
                except Exception as exc:
                    errors[f"{trigger}.{key}"] = str(exc) or type(exc).__name__
            cleaned[trigger] = values
        if errors:
            detail = "; ".join(f"{where}: {why}" for where, why in sorted(errors.items()))
            raise ValueError(f"Invalid trigger kwargs: {detail}")
        return cleaned


def _apply(value_filter: Any, value: Any) -> Any:
    if hasattr(value_filter, "apply"):
        return value_filter.apply(value)
    if callable(value_filter):
        return value_filter(value)
    raise TypeError(f"{value_filter!r} is neither a filter (with apply()) nor callable")
