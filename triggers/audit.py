"""The audit trail: every admin action and command that changes a session writes a ``LogEntry``.

Django's admin log (``django.contrib.admin.models.LogEntry``) is the one place operators already
look, and it requires a user. Admin actions log the signed-in user. Commands have none, so they log
as a *system user* named by ``TRIGGERS["AUDIT_USERNAME"]`` (default ``triggers-commands``),
created on first use as an inactive account with no usable password (it can never sign in); the
message says which command ran and as which operating-system user on which host.
"""

from __future__ import annotations

import getpass
import logging
import socket
from collections.abc import Iterable
from typing import Any

from django.contrib.admin.models import ADDITION, CHANGE, DELETION, LogEntry
from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType

from .conf import triggers_setting

logger = logging.getLogger("triggers.audit")

FLAGS = {"add": ADDITION, "change": CHANGE, "delete": DELETION}


def system_user() -> Any:
    """The user that commands log as (created inactive and without a password on first use)."""
    model = get_user_model()
    username = triggers_setting("AUDIT_USERNAME")
    user, created = model._default_manager.get_or_create(
        **{model.USERNAME_FIELD: username}, defaults={"is_active": False}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user


def describe(action: str, instances: Iterable[str] = (), detail: str = "") -> str:
    """``replay load#0, load#3: kwargs replaced`` - what, and which instances."""
    names = list(instances)
    text = action + (f" {', '.join(names)}" if names else "")
    return text + (f": {detail}" if detail else "")


def record(
    uid: str,
    action: str,
    instances: Iterable[str] = (),
    detail: str = "",
    user: Any = None,
    command: str | None = None,
    flag: str = "change",
) -> LogEntry | None:
    """Write one ``LogEntry`` on the session's row; never lets auditing break the action itself.

    ``user`` is the admin's user; ``command`` the command's name when there is no user.
    """
    from .models import TriggerSession

    message = describe(action, instances, detail)
    if user is None:
        user = system_user()
        message += f" (command {command or '?'} run by {_os_user()} on {socket.gethostname()})"
    session = TriggerSession.objects.filter(uid=uid).first()
    try:
        return LogEntry.objects.create(
            user_id=user.pk,
            content_type=ContentType.objects.get_for_model(TriggerSession),
            object_id=str(session.pk) if session else None,
            object_repr=uid[:200],
            action_flag=FLAGS[flag],
            change_message=message,
        )
    except Exception:  # the action happened; a failed audit write must be seen, not fatal
        logger.exception("could not write the audit entry %r for session %s", message, uid)
        return None


def history(session: Any, limit: int = 50) -> list[LogEntry]:
    """The latest audit entries of one session, newest first."""
    from .models import TriggerSession

    return list(
        LogEntry.objects.filter(
            content_type=ContentType.objects.get_for_model(TriggerSession),
            object_id=str(session.pk),
        )
        .select_related("user")
        .order_by("-action_time")[:limit]
    )


def _os_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no passwd entry in a container
        return "unknown"
