"""Which state store to use: ``COLLECTORS["STATE_STORE"]`` or a name given in code.

Names resolve like trigger storages: the built-ins (``db``, ``file``), then the
``collector_app.state_stores`` entry-point group (third-party stores), then a dotted path.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured

from triggers.exceptions import UnknownBackendError
from triggers.plugins import resolve_class

from ..conf import collectors_setting
from .base import BaseStateStore

GROUP = "collector_app.state_stores"
BUILTINS = {
    "db": "collector_app.state.db.DatabaseStateStore",
    "file": "collector_app.state.file.FileStateStore",
}


def get_state_store_class(name: str | None = None) -> type[BaseStateStore]:
    """The class called ``name`` (default: the ``STATE_STORE`` setting)."""
    configured = name is None
    chosen: str = collectors_setting("STATE_STORE") if name is None else name
    setting = "COLLECTORS['STATE_STORE']: " if configured else ""
    try:
        cls = resolve_class("state store", GROUP, BUILTINS, chosen)
    except UnknownBackendError as exc:
        raise ImproperlyConfigured(f"{setting}{exc}") from exc
    if not (isinstance(cls, type) and issubclass(cls, BaseStateStore)):
        raise ImproperlyConfigured(
            f"{setting}state store {chosen!r} is {cls!r}, not a "
            f"collector_app.state.base.BaseStateStore subclass"
        )
    return cls


def get_state_store(name: str | None = None, **options: Any) -> BaseStateStore:
    """A store instance; ``options`` go to its constructor (``directory=`` for ``file``)."""
    return get_state_store_class(name)(**options)
