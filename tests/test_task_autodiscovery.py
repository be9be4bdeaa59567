"""Each installed app's ``trigger_tasks`` module is imported at startup (``triggers.apps``).

So tasks registered with ``@register_task`` there are known to every process that runs
``django.setup()``: the web server, ``manage.py shell`` and every RQ worker.
"""

from __future__ import annotations

import sys

import pytest
from django.conf import settings
from django.test import override_settings

from triggers.task import resolve_task, unregister_task

TASKS = """
from triggers import register_task


@register_task("autodiscovered-hello")
def hello(context):
    return {"hello": "found"}
"""


@pytest.fixture
def host_app(tmp_path, monkeypatch):
    """An app ``autodiscovered_app`` on sys.path, with a trigger_tasks and a Celery tasks.py."""
    app = tmp_path / "autodiscovered_app"
    app.mkdir()
    (app / "__init__.py").write_text("")
    (app / "trigger_tasks.py").write_text(TASKS)
    # Celery's module name: never imported by triggers (it would fail if it were).
    (app / "tasks.py").write_text("raise RuntimeError('tasks.py must not be imported')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    yield "autodiscovered_app"
    unregister_task("autodiscovered-hello")
    for name in [n for n in sys.modules if n.split(".")[0] == "autodiscovered_app"]:
        del sys.modules[name]


def test_an_installed_apps_trigger_tasks_module_registers_its_tasks(host_app):
    with pytest.raises(ImportError, match="neither a registered task name"):
        resolve_task("autodiscovered-hello")
    with override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, host_app]):
        assert f"{host_app}.trigger_tasks" in sys.modules
        assert f"{host_app}.tasks" not in sys.modules
        assert resolve_task("autodiscovered-hello")(None) == {"hello": "found"}


def test_an_app_without_a_trigger_tasks_module_is_fine(tmp_path, monkeypatch):
    (tmp_path / "plain_app").mkdir()
    (tmp_path / "plain_app" / "__init__.py").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        with override_settings(INSTALLED_APPS=[*settings.INSTALLED_APPS, "plain_app"]):
            assert "plain_app" in sys.modules
    finally:
        sys.modules.pop("plain_app", None)
