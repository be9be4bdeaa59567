"""``manage.py collect``: runs with progress and journal, --dry-run, --test, --json, --list."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
from importlib.metadata import EntryPoint
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command
from django.test import override_settings

from collector_app import cli, registry
from collector_app.components import Sink, Source
from collector_app.models import PipelineRun
from collector_app.options import MASK
from collector_app.pipeline import JournalEntry
from collector_app.registry import sink, source
from tests.support.helpers import subprocess_env

ROOT = Path(__file__).resolve().parent.parent
SECRET = "hunter2-do-not-show"
CALLS: list[str] = []
RECEIVED: list[dict] = []


class Value(Source):
    """A number, or a failure quoting its password."""

    def declare_config(self, config):
        config.add_option("value", default=1, optional=True, schema={"type": "integer"})
        config.add_option("fail", default=False, optional=True, schema={"type": "boolean"})
        config.add_option("leak", default=False, optional=True, schema={"type": "boolean"})
        config.add_option("password", default="default-secret-value", optional=True, secret=True)

    def collect(self):
        CALLS.append(self.id)
        if self.config.fail.value:
            raise RuntimeError(f"could not log in with {self.config.password.value}")
        data = {"value": self.config.value.value}
        if self.config.leak.value:
            data["password"] = self.config.password.value
        return data


class Keep(Sink):
    def distribute(self, data):
        CALLS.append(self.id)
        RECEIVED.append(dict(data))


@pytest.fixture(autouse=True)
def components():
    source.register("tcollect.value")(Value)
    sink.register("tcollect.keep")(Keep)
    CALLS.clear()
    RECEIVED.clear()
    yield
    source.unregister("tcollect.value")
    sink.unregister("tcollect.keep")


def pipeline_file(tmp_path: Path, sources=None, sinks=None, name="demo") -> Path:
    definition = {
        "sources": sources or [{"type": "tcollect.value", "id": "numbers"}],
        "sinks": sinks if sinks is not None else [{"type": "tcollect.keep", "id": "keep"}],
    }
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(definition))
    return path


def collect(*args, **options) -> str:
    out = StringIO()
    call_command("collect", *map(str, args), stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


def collect_failing(*args, **options) -> tuple[str, CommandError]:
    out = StringIO()
    with pytest.raises(CommandError) as caught:
        call_command("collect", *map(str, args), stdout=out, stderr=StringIO(), **options)
    return out.getvalue(), caught.value


# -- running ------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_passing_run_prints_progress_and_the_journal_and_is_recorded(tmp_path):
    out = collect(pipeline_file(tmp_path))
    lines = out.splitlines()
    running = lines.index("  [source] numbers (tcollect.value) ... running")
    passed = next(
        i
        for i, line in enumerate(lines)
        if line.startswith("  [source] numbers (tcollect.value) passed ")
    )
    assert running < passed and lines[passed].endswith("s")
    assert "  [sink] keep (tcollect.keep) ... running" in lines
    assert any(line.startswith("  [sink] keep (tcollect.keep) passed") for line in lines)
    assert "pipeline 'demo' passed in " in out
    assert CALLS == ["numbers", "keep"] and RECEIVED == [{"numbers": {"value": 1}}]
    run = PipelineRun.objects.get(pipeline="demo")
    assert run.status == "passed"
    assert [e["id"] for e in run.journal["entries"]] == ["numbers", "keep"]


@pytest.mark.django_db
def test_a_failed_required_source_fails_with_the_journal_and_masks_the_secret(tmp_path):
    path = pipeline_file(
        tmp_path,
        sources=[
            {"type": "tcollect.value", "id": "ok"},
            {
                "type": "tcollect.value",
                "id": "login",
                "config": {"fail": True, "password": SECRET},
            },
        ],
    )
    out, error = collect_failing(path, verbosity=2)
    assert "pipeline 'demo' failed" in str(error)
    assert error.returncode == 1
    assert any(
        line.startswith("  [source] login (tcollect.value) failed") for line in out.splitlines()
    )
    assert "pipeline 'demo' failed in " in out
    assert f"login: RuntimeError: could not log in with {MASK}" in out
    assert "Traceback (most recent call last)" in out  # verbosity 2
    assert SECRET not in out + str(error)
    assert "keep" not in CALLS  # no sink after a failed required source
    assert PipelineRun.objects.get(pipeline="demo").status == "failed"

    quiet, _ = collect_failing(path)
    assert "Traceback" not in quiet


@pytest.mark.django_db
def test_a_named_pipeline_and_bad_targets(tmp_path):
    named = {"sources": [{"type": "tcollect.value", "id": "numbers", "config": {"value": 7}}]}
    with override_settings(COLLECTORS={"PIPELINES": {"nightly": named}}):
        assert "pipeline 'nightly' passed" in collect("nightly")
        assert PipelineRun.objects.filter(pipeline="nightly").count() == 1
        _, error = collect_failing("weekly")
        assert "no pipeline named 'weekly'" in str(error) and "known: nightly" in str(error)
    _, error = collect_failing(tmp_path / "missing.toml")
    assert str(error) == f"pipeline file '{tmp_path / 'missing.toml'}' does not exist"
    _, error = collect_failing()
    assert "give a pipeline file or name" in str(error)
    unknown = pipeline_file(tmp_path, sources=[{"type": "nope", "id": "x"}])
    _, error = collect_failing(unknown)
    assert str(error).startswith("sources[0].type: unknown source 'nope'")


# -- --dry-run and --test -----------------------------------------------------------------------
@pytest.mark.django_db
def test_dry_run_validates_and_runs_nothing(tmp_path):
    written = tmp_path / "out" / "bundle.json"
    path = pipeline_file(
        tmp_path,
        sources=[{"type": "tcollect.value", "id": "numbers", "config": {"password": SECRET}}],
        sinks=[{"type": "json_file", "id": "save", "config": {"path": str(written)}}],
    )
    out = collect(path, "--dry-run")
    assert "pipeline 'demo' is valid; dry run, nothing was run" in out
    assert "[sink] save (json_file)" in out and MASK in out and SECRET not in out
    assert CALLS == [] and not written.exists()
    assert not PipelineRun.objects.exists()

    as_json = json.loads(collect(path, "--dry-run", "--json"))
    assert [c["id"] for c in as_json["components"]] == ["numbers", "save"]
    assert as_json["components"][0]["config"]["password"] == MASK


def test_dry_run_reports_a_bad_option_with_the_component_and_the_option_path(tmp_path):
    path = pipeline_file(
        tmp_path, sources=[{"type": "env", "id": "environment", "config": {"include": ["A", 3]}}]
    )
    _, error = collect_failing(path, "--dry-run")
    message = str(error)
    assert message.startswith("sources[0].config.include[1]: ")
    assert "component 'environment', option 'include[1]'" in message
    assert "\n" not in message and "Traceback" not in message


@pytest.mark.django_db
def test_test_mode_prints_the_bundle_without_running_sinks(tmp_path):
    written = tmp_path / "bundle.json"
    path = pipeline_file(
        tmp_path,
        sources=[
            {
                "type": "tcollect.value",
                "id": "numbers",
                "config": {"value": 5, "leak": True, "password": SECRET},
            }
        ],
        sinks=[
            {"type": "tcollect.keep", "id": "keep"},
            {"type": "json_file", "id": "save", "config": {"path": str(written)}},
        ],
    )
    out = collect(path, "--test")
    assert out.startswith("testing (no sinks) pipeline 'demo'\n")
    bundle = out.split("bundle (sinks not run):\n", 1)[1]
    assert json.loads(bundle) == {"numbers": {"value": 5, "password": MASK}}
    assert SECRET not in out
    assert CALLS == ["numbers"] and not written.exists()
    assert "[sink] keep" not in out  # sinks never start
    assert "not-run" in out
    assert not PipelineRun.objects.exists()


# -- --json -------------------------------------------------------------------------------------
@pytest.mark.django_db
def test_json_output_is_only_the_journal_and_data(tmp_path, capsys):
    path = pipeline_file(
        tmp_path,
        sources=[{"type": "tcollect.value", "id": "numbers", "config": {"value": 3}}],
        sinks=[{"type": "print", "id": "show"}],
    )
    data = json.loads(collect(path, "--json"))
    assert data["pipeline"] == "demo" and data["status"] == "passed"
    assert data["data"] == {"numbers": {"value": 3}}
    assert [(e["id"], e["status"]) for e in data["entries"]] == [
        ("numbers", "passed"),
        ("show", "passed"),
    ]
    captured = capsys.readouterr()
    assert captured.out == ""  # the print sink wrote to stderr, not into the JSON
    assert json.loads(captured.err) == {"numbers": {"value": 3}}

    failing = pipeline_file(
        tmp_path,
        sources=[
            {"type": "tcollect.value", "id": "x", "config": {"fail": True, "password": SECRET}}
        ],
        name="broken",
    )
    out, error = collect_failing(failing, "--json")
    data = json.loads(out)
    assert data["status"] == "failed" and data["entries"][0]["error_type"] == "RuntimeError"
    assert SECRET not in out + str(error)


# -- --list -------------------------------------------------------------------------------------
def test_list_shows_builtins_and_their_options_and_masks_secret_defaults():
    out = collect("--list")
    assert "sources:" in out and "aggregators:" in out and "sinks:" in out
    assert "  env  (collector_app.builtins.sources.EnvSource)" in out
    env = out.split("  env  (", 1)[1].split("\n  ", 1)[1]
    assert env.split()[:5] == ["option", "type", "default", "optional", "secret"]
    assert "include  array" in out and '["*"]' in out
    assert "tcollect.value" in out and "default-secret-value" not in out

    described = json.loads(collect("--list", "--json"))
    env_info = next(c for c in described["sources"] if c["name"] == "env")
    assert env_info["error"] is None
    assert {o["key"]: o["schema_type"] for o in env_info["options"]} == {
        "include": "array",
        "exclude": "array",
        "lowercase": "boolean",
        "types": "object|null",
    }
    value = next(c for c in described["sources"] if c["name"] == "tcollect.value")
    password = next(o for o in value["options"] if o["key"] == "password")
    assert password == {
        "key": "password",
        "default": MASK,
        "optional": True,
        "secret": True,
        "schema_type": "any",
    }
    assert "json_file" in [c["name"] for c in described["sinks"]]


def test_list_shows_a_broken_entry_point_with_its_error(monkeypatch):
    real = registry.source._entry_points
    broken = EntryPoint("broken", "no_such_module_for_collect:Thing", "collector_app.sources")
    monkeypatch.setattr(registry.source, "_entry_points", lambda: {**real(), "broken": [broken]})
    out = collect("--list")
    line = next(line for line in out.splitlines() if line.startswith("  broken"))
    assert "ERROR:" in line and "no_such_module_for_collect" in line
    assert "  env  (collector_app.builtins.sources.EnvSource)" in out  # the rest is listed


# -- the progress printer -----------------------------------------------------------------------
def test_progress_lines_stay_whole_when_threads_print_at_once():
    class SlowStream:
        def __init__(self):
            self.chars: list[str] = []

        def write(self, text):
            for char in text:  # one character at a time: interleaves without the lock
                self.chars.append(char)
                time.sleep(0)

        def flush(self):
            pass

    stream = SlowStream()
    printer = cli.ProgressPrinter(stream)
    entries = [JournalEntry(f"s{i}", "value", "source", status="running") for i in range(16)]
    threads = [threading.Thread(target=printer, args=(e,)) for e in entries for _ in range(5)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    lines = "".join(stream.chars).splitlines()
    assert len(lines) == 80
    assert set(lines) == {f"  [source] s{i} (value) ... running" for i in range(16)}


# -- a real process: the exit status ------------------------------------------------------------
FLOWCONF = """
from collector_app.components import Source
from collector_app.registry import source


@source.register("flowconf.answer")
class Answer(Source):
    def declare_config(self, config):
        config.add_option("fail", default=False, optional=True, schema={"type": "boolean"})

    def collect(self):
        if self.config.fail.value:
            raise RuntimeError("asked to fail")
        return {"answer": 42}
"""


def manage(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", "collect", *args],
        cwd=ROOT,
        env=subprocess_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.django_db(transaction=True)
def test_exit_status_of_a_real_process(tmp_path):
    (tmp_path / "flowconf.py").write_text(FLOWCONF)
    good = tmp_path / "good.toml"
    good.write_text('[[sources]]\ntype = "flowconf.answer"\nid = "answer"\n')
    done = manage(str(good))
    assert done.returncode == 0, done.stderr
    assert "  [source] answer (flowconf.answer) ... running" in done.stdout
    assert "pipeline 'good' passed" in done.stdout
    assert PipelineRun.objects.get(pipeline="good").status == "passed"  # the test database

    done = manage(str(good), "--json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["data"] == {"answer": {"answer": 42}}

    bad = tmp_path / "bad.toml"
    bad.write_text(
        '[[sources]]\ntype = "flowconf.answer"\nid = "answer"\nconfig = { fail = true }\n'
    )
    done = manage(str(bad))
    assert done.returncode == 1
    assert "answer: RuntimeError: asked to fail" in done.stdout
    assert "CommandError: pipeline 'bad' failed" in done.stderr
    assert "Traceback" not in done.stderr
    assert PipelineRun.objects.get(pipeline="bad").status == "failed"

    done = manage(str(tmp_path / "missing.toml"))
    assert done.returncode == 1 and "does not exist" in done.stderr and not done.stdout
