"""Shared pieces of the test suite."""

from __future__ import annotations

import os
import uuid
from pathlib import Path

from django.test import TransactionTestCase

from triggers import TriggerManager


class SessionTestCase(TransactionTestCase):
    """Sessions are registered in the session table, and worker processes must see the rows:
    the database, without a wrapping transaction (on_commit callbacks run at once)."""

    databases = {"default"}


def subprocess_env() -> dict[str, str]:
    """The environment for processes a test starts: the same (test) database as the test."""
    from django.db import connection

    env = dict(os.environ)
    db = connection.settings_dict
    if db["ENGINE"].endswith("sqlite3"):
        env["DATABASE_URL"] = f"sqlite:///{Path(db['NAME']).resolve()}"
    else:
        auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
        env["DATABASE_URL"] = f"postgres://{auth}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return env


def new_uid(prefix: str = "test") -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


class RecordingManager(TriggerManager):
    """Records the hooks it receives, in order."""

    def __init__(self, storage):
        super().__init__(storage)
        self.calls: list[tuple] = []

    def _post_fire(self, trigger_name, trigger_kwargs):
        self.calls.append(("fire", trigger_name))

    def _post_replay(self, task_instance):
        self.calls.append(("replay", task_instance.name))

    def _post_skip(self, task_instance, cascade):
        self.calls.append(("skip", task_instance.name, cascade))


def redis_url() -> str:
    """The URL of the Redis the tests use, for processes configured from scratch."""
    import django_rq

    kwargs = django_rq.get_connection("default").connection_pool.connection_kwargs
    db = kwargs.get("db") or 0
    if "path" in kwargs:
        return f"unix://{kwargs['path']}?db={db}"
    return f"redis://{kwargs.get('host', '127.0.0.1')}:{kwargs.get('port', 6379)}/{db}"
