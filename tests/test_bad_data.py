"""Bad data gets one clear error (or is recorded), the same on every backend (issue 13, 7)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from collector_app.checks import check_collector_settings
from collector_app.models import GatherRun, PipelineRun
from collector_app.pushcollector import Collector
from collector_app.pushcollector.local import LocalCollector
from collector_app.runs import run_named
from collector_app.state.file import TEMP_PREFIX, FileStateStore
from tests.support.helpers import SessionTestCase, subprocess_env

DEEP = {"sources": [{"type": "tests.bad.deep", "id": "deep", "config": {"depth": 500}}]}


@override_settings(
    COLLECTORS={
        "PIPELINES": {"deep": DEEP},
        "COMPONENT_MODULES": ["tests.support.bad_data_components"],
    }
)
class DeepBundles(SessionTestCase):
    def test_a_bundle_nested_500_deep_is_run_and_recorded(self):
        journal = run_named("deep")
        self.assertTrue(journal.passed, journal.error)
        run = PipelineRun.objects.get(pipeline="deep")
        self.assertEqual(run.status, "passed")
        self.assertEqual(run.journal["entries"][0]["id"], "deep")
        self.assertNotIn("data", run.journal)

    def test_a_bundle_too_deep_for_json_is_refused_at_the_source_naming_the_depth(self):
        deeper = {"sources": [{**DEEP["sources"][0], "config": {"depth": 5000}}]}
        with override_settings(
            COLLECTORS={
                "PIPELINES": {"deep": deeper},
                "COMPONENT_MODULES": ["tests.support.bad_data_components"],
            }
        ):
            journal = run_named("deep")
        self.assertFalse(journal.passed)
        error = journal.entry("deep").error
        self.assertIn("source 'deep' returned data that is not JSON: nested too deep", error)
        self.assertEqual(PipelineRun.objects.get(pipeline="deep").status, "failed")


def test_a_planted_symlink_creates_no_folder_outside_the_run(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    with Collector.new_run() as run:
        backend = LocalCollector(tmp_path / "artifacts", run)
        folder = backend.prepare()
        (folder / "planted").symlink_to(outside)
        (folder / "dangling").symlink_to(tmp_path / "nowhere")
        collector = Collector(backend, "local")
        for name in ("planted/a/b/c.txt", "dangling/x/y.txt"):
            with pytest.raises(ValueError, match="leads outside the run folder"):
                collector.attach_file(name, b"x").result()
        collector.attach_file("inside/ok.txt", b"ok").result()
    assert list(outside.iterdir()) == []
    assert not (tmp_path / "nowhere").exists()
    assert (folder / "inside" / "ok.txt").read_bytes() == b"ok"


def test_file_states_of_collectors_named_like_temporary_files_are_listed(tmp_path):
    store = FileStateStore(tmp_path)
    for key in (".tmp-feed:0123456789ab", ".tmp-x/y:0123456789ab", "%2Etmp-z:0123456789ab"):
        store.save(key, {"n": 1}, key.partition(":")[0], "d" * 64)
        assert store.load(key) == {"n": 1}
        assert store.info(key).collector == key.partition(":")[0]
    listed = sorted(record.collector for record in store.list())
    assert listed == ["%2Etmp-z", ".tmp-feed", ".tmp-x/y"]
    assert not any(path.name.startswith(TEMP_PREFIX) for path in tmp_path.iterdir())


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("args", "named"),
    [
        (
            ["--since", "0001-01-01"],
            "window 0001-01-01T00:00:00+00:00 .. 0001-01-29T00:00:00+00:00",
        ),
        (["--until", "1969-12-31"], "until 1969-12-31T00:00:00+00:00 is before 1970-01-01"),
    ],
)
def test_gather_before_1970_is_one_line_naming_the_window(tmp_path, args, named):
    with pytest.raises(CommandError) as caught:
        call_command("gather", "demo", *args, "--dry-run", "--dest", str(tmp_path / "d"))
    message = str(caught.value)
    assert named in message
    assert "the earliest time a window can cover" in message
    assert "\n" not in message
    assert not GatherRun.objects.exists()


MISSING_MODULE = {
    "PIPELINES": {"deep": DEEP},
    "COMPONENT_MODULES": ["tests.support.bad_data_components", "tests.no_such_module", "nopkg.mod"],
}


@override_settings(COLLECTORS=MISSING_MODULE)
def test_a_missing_component_module_is_reported_by_check_and_collect_in_one_line():
    errors = check_collector_settings()
    assert [error.id for error in errors] == ["collector_app.E005"] * 2
    assert "COLLECTORS['COMPONENT_MODULES'][1] is 'tests.no_such_module'" in errors[0].msg
    assert "[2] is 'nopkg.mod'" in errors[1].msg
    with pytest.raises(CommandError) as caught:
        call_command("collect", "deep")
    message = str(caught.value)
    assert message.startswith(
        "COLLECTORS['COMPONENT_MODULES'] lists 'tests.no_such_module', which cannot be imported"
    )
    assert "\n" not in message


@pytest.mark.django_db(transaction=True)
def test_manage_py_collect_with_a_missing_component_module_is_one_line_and_exit_1(tmp_path):
    (tmp_path / "missing_module_settings.py").write_text(
        "from settings import *  # noqa: F403\n"
        "COLLECTORS = {**COLLECTORS, 'COMPONENT_MODULES': ['tests.no_such_module']}  # noqa\n"
    )
    root = Path(__file__).resolve().parent.parent
    env = {
        **subprocess_env(),
        "DJANGO_SETTINGS_MODULE": "missing_module_settings",
        "PYTHONPATH": os.pathsep.join([str(tmp_path), str(root)]),
    }
    done = subprocess.run(
        [sys.executable, str(root / "manage.py"), "collect", "demo-inventory"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert lines == [
        "CommandError: COLLECTORS['COMPONENT_MODULES'][0] is 'tests.no_such_module', which is "
        "not an importable module. (collector_app.E005)"
    ], done.stderr


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(
    ("field", "value", "named"),
    [
        ("cron", "0 0 30 2 *", "cron &#x27;0 0 30 2 *&#x27; never comes"),
        ("frequency", "1e12", "a frequency of 1e+12 seconds gives no next run"),
        ("frequency", "inf", "Enter a number"),
    ],
)
def test_admin_refuses_a_schedule_that_never_runs_with_a_form_error(client, field, value, named):
    from django.contrib.auth.models import User

    from collector_app.models import PipelineSchedule

    client.force_login(User.objects.create_superuser("admin", "admin@example.com", "pw"))
    form = {
        "name": "never",
        "pipeline": "demo-inventory",
        "frequency": "",
        "cron": "",
        "queue": "default",
        "enabled": "on",
        field: value,
    }
    answer = client.post("/admin/collector_app/pipelineschedule/add/", form)
    assert answer.status_code == 200
    assert named in answer.content.decode()
    assert not PipelineSchedule.objects.exists()
