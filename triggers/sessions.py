"""Session-level operations that commands and the admin share: find, load, show, purge."""

from __future__ import annotations

import difflib
import json
import re
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.utils import timezone

from .configuration import MAX_NESTING
from .exceptions import TriggersError
from .manager import TriggerManager, get_manager
from .storages import check_uid
from .types import TaskInstance


class UnknownSessionError(TriggersError, LookupError):
    def __init__(self, uid: str) -> None:
        super().__init__(f"no trigger session {uid!r} (not in the session table)")
        self.uid = uid


def open_session(uid: str, storage: str | None = None, create: bool = False) -> TriggerManager:
    """The manager of a registered session (on its own storage), or of a new one if ``create``."""
    from .models import TriggerSession

    check_uid(uid)  # a longer uid could never have been registered: say why, up front
    session = TriggerSession.objects.filter(uid=uid).first()
    if session is not None:
        return get_manager(uid, session.storage)
    if not create:
        raise UnknownSessionError(uid)
    return get_manager(uid, storage)


def lost_data_message(manager: TriggerManager) -> str | None:
    """Words for a session the table lists but its storage no longer holds, else ``None``.

    Shown by ``triggers_status`` and the admin instead of an empty session.
    """
    if manager.storage.has_data():
        return None
    from .models import TriggerSession

    session = TriggerSession.objects.filter(uid=manager.session_uid).first()
    counted = ""
    if session is not None:
        counts = ", ".join(f"{n} {status}" for status, n in session.status_counts.items() if n)
        counted = f"; the session table last counted {counts or 'no instances'}"
    return (
        f"session {manager.session_uid!r}: the storage {manager.storage.name!r} no longer has "
        f"this session's data (its server lost it, e.g. a Redis restarted without its "
        f"data){counted}. Configure and fire it again, or remove it with triggers_purge"
    )


def load_configuration(path: str | Path) -> dict[str, Any]:
    """Read a configuration from a ``.json`` or ``.toml`` file; errors name the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ValueError(f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        if path.suffix.lower() == ".toml":
            data = tomllib.loads(text)
        elif path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            raise ValueError(f"{path}: use a .json or .toml file")
    except (json.JSONDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ValueError(f"{path} is not valid {path.suffix[1:].upper()}: {exc}") from exc
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the configuration must be a mapping of task names")
    return data


def parse_json_object(text: str | None, option: str) -> dict[str, Any] | None:
    """Parse a ``--kwargs``-style argument; the error names the option."""
    if text is None:
        return None
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"{option} is not valid JSON: {exc}") from exc
    except RecursionError:
        raise ValueError(
            f"{option} is nested too deeply (kwargs may nest at most {MAX_NESTING} levels)"
        ) from None
    if not isinstance(value, dict):
        raise ValueError(f"{option} must be a JSON object, not {type(value).__name__}")
    return value


def unused_trigger_warning(manager: TriggerManager, trigger: str) -> str | None:
    """Why firing ``trigger`` did nothing, if no task of the session uses it (often a typo)."""
    configs = manager.storage.tasks
    if any(config.uses_trigger(trigger) for config in configs.values()):
        return None
    used = {name for c in configs.values() for name in (*c.triggers_required, *c.unless)}
    close = difflib.get_close_matches(trigger, sorted(used), n=1)
    return (
        f"no task of session {manager.session_uid!r} uses trigger {trigger!r}: firing it only "
        f"recorded its kwargs" + (f"; did you mean {close[0]!r}?" if close else "")
    )


def instance_row(instance: TaskInstance) -> dict[str, Any]:
    return {
        "name": instance.name,
        "task": instance.task_name,
        "status": instance.status,
        "kwargs": instance.kwargs,
        "result": instance.result,
        "duration": instance.metadata.get("duration"),
        "depth": instance.depth,
        "parent": instance.parent,
        "exc_type": instance.metadata.get("exc_type"),
        "exc_message": instance.metadata.get("exc_message"),
        "traceback": instance.metadata.get("traceback"),
        "timestamps": dict(
            sorted(instance.metadata.get("timestamps", {}).items(), key=lambda item: item[1])
        ),
        "unresolved_logs": instance.has_unresolved_logs,
    }


def sorted_instances(manager: TriggerManager) -> list[TaskInstance]:
    return sorted(manager.storage, key=lambda inst: (inst.created or "", inst.name))


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([dhms]?)\s*$")


def parse_age(text: str) -> timedelta:
    """``30d``, ``12h``, ``45m``, ``90s`` or a plain number of days."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"--older-than {text!r}: use a number with d, h, m or s (e.g. 30d)")
    amount, unit = float(match.group(1)), match.group(2) or "d"
    unit_name = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}[unit]
    try:
        age = timedelta(**{unit_name: amount})
        timezone.now() - age  # the cutoff must be a date the calendar holds
    except OverflowError:
        raise ValueError(
            f"--older-than {text!r} reaches back before the year 1; use a shorter age"
        ) from None
    return age


def purge_sessions(older_than: timedelta, dry_run: bool = False) -> list[str]:
    """Delete sessions untouched for ``older_than`` whose instances are all resolved."""
    from .models import TriggerSession
    from .session_index import flush_pending_counts, refresh_summary, storage_of

    flush_pending_counts()  # staged counts carry the latest activity of cache sessions
    cutoff = timezone.now() - older_than
    purged = []
    for session in TriggerSession.objects.filter(updated__lt=cutoff).order_by("updated"):
        storage = storage_of(session)
        refresh_summary(session, storage)
        if session.unresolved_count:
            continue
        purged.append(session.uid)
        if not dry_run:
            storage.delete()
            TriggerSession.objects.filter(pk=session.pk).delete()
    return purged
