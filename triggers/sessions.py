"""Session-level operations that commands and the admin share: find, load, show, purge."""

from __future__ import annotations

import json
import re
import tomllib
from datetime import timedelta
from pathlib import Path
from typing import Any

from django.utils import timezone

from .exceptions import TriggersError
from .manager import TriggerManager, get_manager
from .types import TaskInstance


class UnknownSessionError(TriggersError, LookupError):
    def __init__(self, uid: str) -> None:
        super().__init__(f"no trigger session {uid!r} (not in the session table)")
        self.uid = uid


def open_session(uid: str, storage: str | None = None, create: bool = False) -> TriggerManager:
    """The manager of a registered session (on its own storage), or of a new one if ``create``."""
    from .models import TriggerSession

    session = TriggerSession.objects.filter(uid=uid).first()
    if session is not None:
        return get_manager(uid, session.storage)
    if not create:
        raise UnknownSessionError(uid)
    return get_manager(uid, storage)


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
    if not isinstance(value, dict):
        raise ValueError(f"{option} must be a JSON object, not {type(value).__name__}")
    return value


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
    return sorted(manager.storage, key=lambda inst: (inst.metadata.get("created", ""), inst.name))


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*([dhms]?)\s*$")


def parse_age(text: str) -> timedelta:
    """``30d``, ``12h``, ``45m``, ``90s`` or a plain number of days."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"--older-than {text!r}: use a number with d, h, m or s (e.g. 30d)")
    amount, unit = float(match.group(1)), match.group(2) or "d"
    return timedelta(**{{"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}[unit]: amount})


def purge_sessions(older_than: timedelta, dry_run: bool = False) -> list[str]:
    """Delete sessions untouched for ``older_than`` whose instances are all resolved."""
    from .models import TriggerSession
    from .registry import flush_pending_counts, refresh_summary, storage_of

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
