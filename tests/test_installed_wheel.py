"""The wheel, installed in a fresh virtualenv next to a new Django project, works as documented.

Slow (it builds a wheel and a virtualenv; pip's cache keeps the second run short), and it is
the one test that proves what a user gets: migrations, templates and the schema in the wheel,
entry points resolving from the installed distribution, and the settings docs/install.md
gives being enough: install.md's settings and task module, and the README's Python tour.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

from tests.support.helpers import redis_url

ROOT = Path(__file__).resolve().parent.parent

FIRE = """
import json, sys
from triggers import TriggerManager
manager = TriggerManager.for_session(sys.argv[1])
manager.update_configuration({"greet": {"after": ["go"], "run": "greet"}})
print(json.dumps(manager.fire("go", {"name": "wheel"})))
"""

CHECK = """
import json, sys
from importlib.metadata import entry_points
from triggers import TriggerManager
from collector_app.registry import source
from collector_app.pushcollector import Collector
instance = TriggerManager.for_session(sys.argv[1]).storage["greet#0"]
print(json.dumps({
    "status": instance.status,
    "result": instance.result,
    "storages": sorted(ep.name for ep in entry_points(group="triggers.storages")),
    "env_source": source.get("env").__name__,
    "recorder": type(Collector.get("dummy").backend).__name__,
}))
"""


def documented_block(path: str, directive: str) -> str:
    """The python block of a docs page that follows ``<!-- docs-test: <directive> -->``."""
    text = (ROOT / path).read_text()
    pattern = rf"<!-- docs-test: {re.escape(directive)} -->\s*```python\n(.*?)```"
    blocks = re.findall(pattern, text, re.S)
    assert len(blocks) == 1, f"{path} holds one python block marked docs-test: {directive}"
    return blocks[0]


def readme_tour() -> str:
    """The README's Python tour, which must run as written in a project set up by install.md."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.S)
    (tour,) = [block for block in blocks if "TriggerManager.for_session" in block]
    return tour


def run(args, cwd, env=None, timeout=900) -> str:
    done = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{args} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_wheel_installs_into_a_new_project_and_runs_a_task(tmp_path):
    # Built from a copy: setuptools keeps a build/ folder next to the sources, and a stale one
    # in the checkout (modules since deleted) would end up in later wheels.
    source = tmp_path / "source"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "var", "build", "*.egg-info", "__pycache__", ".*_cache"
        ),
    )
    dist = tmp_path / "dist"
    run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(dist), str(source)],
        ROOT,
    )
    (wheel,) = dist.glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for expected in (
        "triggers/migrations/0001_initial.py",
        "collector_app/migrations/0001_initial.py",
        "collector_app/templates/admin/collector_app/pipelineschedule/confirm_action.html",
        "triggers/templates/admin/triggers/triggersession/detail.html",
        "collector_app/py.typed",
        "collector_app/schemas/pushitem.schema.json",
        # every migration of both apps, the newest included
        *(
            str(path.relative_to(ROOT))
            for app in ("triggers", "collector_app")
            for path in sorted((ROOT / app / "migrations").glob("0*.py"))
        ),
    ):
        assert expected in names, f"{expected} missing from {wheel.name}"
    assert not any(name.startswith(("tests/", "settings/", "bench/")) for name in names)

    venv = tmp_path / "venv"
    run([sys.executable, "-m", "venv", str(venv)], tmp_path)
    python = str(venv / "bin" / "python")
    run([python, "-m", "pip", "install", "-q", str(wheel)], tmp_path)

    # Nothing of this checkout may leak in: not its settings, not its packages.
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "DATABASE_URL"}}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    run(
        [str(venv / "bin" / "django-admin"), "startproject", "hostsite", str(tmp_path)],
        tmp_path,
        env,
    )
    settings_file = tmp_path / "hostsite" / "settings.py"
    added = re.sub(
        r'^REDIS_URL = ".*"$',
        f"REDIS_URL = {redis_url()!r}",
        documented_block("docs/install.md", "settings"),
        flags=re.M,
    )
    assert added != documented_block("docs/install.md", "settings"), "REDIS_URL not replaced"
    settings_file.write_text(settings_file.read_text() + "\n" + added)

    env.update(DJANGO_SETTINGS_MODULE="hostsite.settings", PYTHONPATH=str(tmp_path))
    manage = [python, str(tmp_path / "manage.py")]
    # install.md's task module: an app of the project, with a trigger_tasks.py.
    run([*manage, "startapp", "greetings"], tmp_path, env)
    tasks = documented_block("docs/install.md", "file greetings/trigger_tasks.py")
    (tmp_path / "greetings" / "trigger_tasks.py").write_text(tasks)
    settings_file.write_text(settings_file.read_text() + '\nINSTALLED_APPS += ["greetings"]\n')
    run([*manage, "check", "--fail-level", "ERROR"], tmp_path, env)
    run([*manage, "migrate", "--noinput", "-v", "0"], tmp_path, env)
    where = run([python, "-c", "import triggers; print(triggers.__file__)"], tmp_path, env)
    assert str(venv) in where, f"triggers imported from {where.strip()}, not the wheel"

    uid = f"wheel-{uuid.uuid4().hex}"
    scheduled = run([*manage, "shell", "-c", FIRE.replace("sys.argv[1]", repr(uid))], tmp_path, env)
    assert "greet#0" in scheduled
    # The queues the README's worker command names (a missing one is a KeyError).
    run([*manage, "rqworker", "--burst", "default", "low"], tmp_path, env)
    out = run([*manage, "shell", "-c", CHECK.replace("sys.argv[1]", repr(uid))], tmp_path, env)
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["status"] == "finished", seen
    assert seen["result"] == {"greeting": "hello wheel"}
    assert {"cache", "db"} <= set(seen["storages"])
    assert seen["env_source"] == "EnvSource"
    assert seen["recorder"] == "DummyCollector"

    # The README's Python tour, as written, in `manage.py shell` of this project.
    run([*manage, "shell", "-c", readme_tour()], tmp_path, env)
