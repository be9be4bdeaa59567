"""flowbber's examples, run here: pipeline files (TOML, YAML) as flowbber's examples/ write
them, run with ``Pipeline(...).run()``, and the archive sink's file checked."""

from __future__ import annotations

import json
import re
import subprocess
import time
import warnings
import zipfile

import pytest

from collector_app.components import FilterSink, Source
from collector_app.definition import DefinitionError, load_definition
from collector_app.options import Configurator
from collector_app.pipeline import Pipeline
from collector_app.scheduler import Scheduler

pytestmark = pytest.mark.django_db

CONFIG_EXAMPLE = """
[[sources]]
type = "config"
id = "config1"

    [sources.config.data]
    name = "this is a name"

    [sources.config.data.embedded]
    somefield = 123

[[sinks]]
type = "archive"
id = "archive"

    [sinks.config]
    output = "{pipeline.dir}/data.json"
    override = true
    create_parents = true
    pretty = true
"""

ENV_EXAMPLE = """
[[sources]]
type = "env"
id = "testenvs"

    [sources.config]
    include = ["TESTENV_*"]
    lowercase = false

    [sources.config.types]
    TESTENV_INT = "integer"
    TESTENV_FLOAT = "float"
    TESTENV_BOOL1 = "boolean"
    TESTENV_BOOL2 = "boolean"
    TESTENV_BOOL3 = "auto"
    TESTENV_BOOL4 = "boolean"
    TESTENV_ISO8601 = "auto"

[[sinks]]
type = "archive"
id = "archive"

    [sinks.config]
    output = "{pipeline.dir}/env-data.json"
    override = true
    pretty = false
    compress = true
"""

YAML_EXAMPLE = """
schedule:
  frequency: 1 seconds
  samples: 2

sources:
  - type: timestamp
    id: timestamp1
    config:
      epoch: false
      epochf: true

  - type: timestamp
    id: timestamp_utc
    config:
      timezone: 0
      iso8601: true

sinks:
  - type: archive
    id: archive
    config:
      output: '{pipeline.dir}/{pipeline.name}{pipeline.ext}.json'
      override: true
      exclude: [timestamp1.*]
"""


def write(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_config_example_writes_the_archive_flowbber_writes(tmp_path):
    journal = Pipeline(write(tmp_path, "pipeline.toml", CONFIG_EXAMPLE)).run()
    assert journal.passed, journal.to_dict()
    text = (tmp_path / "data.json").read_text()
    expected = {"config1": {"name": "this is a name", "embedded": {"somefield": 123}}}
    assert json.loads(text) == expected
    assert text == json.dumps(expected, indent=4, ensure_ascii=False)  # pretty: indent 4


def test_env_example_types_and_compressed_archive(tmp_path, monkeypatch):
    for name, value in {
        "TESTENV_INT": "1",
        "TESTENV_FLOAT": "0.5",
        "TESTENV_BOOL1": "TRUE",
        "TESTENV_BOOL2": "yes",
        "TESTENV_BOOL3": "False",
        "TESTENV_BOOL4": "NO",
        "TESTENV_ISO8601": "2019-08-05T14:38:13",
    }.items():
        monkeypatch.setenv(name, value)
    journal = Pipeline(write(tmp_path, "pipeline.toml", ENV_EXAMPLE)).run()
    assert journal.passed, journal.to_dict()
    with zipfile.ZipFile(tmp_path / "env-data.json.zip") as archive:
        assert archive.namelist() == ["env-data.json"]
        text = archive.read("env-data.json").decode()
    assert json.loads(text)["testenvs"] == {
        "TESTENV_BOOL1": True,
        "TESTENV_BOOL2": True,
        "TESTENV_BOOL3": False,
        "TESTENV_BOOL4": False,
        "TESTENV_FLOAT": 0.5,
        "TESTENV_INT": 1,
        "TESTENV_ISO8601": "2019-08-05T14:38:13",
    }
    assert ", " not in text and ": " not in text  # compact, as flowbber's ujson writes


def test_env_lowercase_and_a_bad_boolean_names_the_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("TESTENV_FLAG", "maybe")
    definition = {
        "sources": [
            {
                "type": "env",
                "id": "env",
                "config": {"include": ["TESTENV_FLAG"], "lowercase": True},
            }
        ]
    }
    assert Pipeline(definition).run().data["env"] == {"testenv_flag": "maybe"}
    definition["sources"][0]["config"]["types"] = {"TESTENV_FLAG": "boolean"}
    journal = Pipeline(definition).run()
    assert "TESTENV_FLAG cannot be read as boolean" in journal.entry("env").error


def test_yaml_pipeline_with_schedule_placeholders_and_sink_filters(tmp_path):
    path = write(tmp_path, "pipeline.yaml", YAML_EXAMPLE)
    pipeline = Pipeline(path)
    spec = pipeline.definition.schedule
    assert (spec.frequency, spec.samples, spec.stop_on_failure) == (1.0, 2, False)
    scheduler = Scheduler(pipeline, **{**spec.scheduler_kwargs(), "frequency": 0.05})
    scheduler.run()
    assert (scheduler.runs["passed"], scheduler.runs["failed"]) == (2, 0)  # missed: load
    data = json.loads((tmp_path / "pipeline.yaml.json").read_text())
    assert data["timestamp1"] == {}  # excluded by the sink, not by the pipeline
    utc = data["timestamp_utc"]
    assert utc["timezone"] == 0 and utc["iso8601"].endswith("+00:00")
    assert isinstance(utc["epoch"], int) and abs(utc["epoch"] - time.time()) < 60
    assert set(pipeline.run().data["timestamp1"]) == {"timezone", "epochf"}


def test_schedule_errors_name_the_key(tmp_path):
    bad = YAML_EXAMPLE.replace("frequency: 1 seconds", "frequency: soon")
    with pytest.raises(DefinitionError, match=r"^schedule\.frequency: 'soon' is not a duration"):
        load_definition(write(tmp_path, "p.yaml", bad))


def test_git_placeholders_and_a_clear_error_outside_a_checkout(tmp_path):
    definition = """
[[sources]]
type = "config"
id = "git"
config = { data = { branch = "{git.branch}", rev = "{git.rev}", root = "{git.root}" } }
"""
    outside = write(tmp_path, "p.toml", definition)
    with pytest.raises(DefinitionError, match=r"\{git\.branch\}: the pipeline is not in a git"):
        load_definition(outside)
    repo = tmp_path / "repo"
    repo.mkdir()
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@t"]
    subprocess.run([*git, "init", "-q", "-b", "main"], check=True)
    subprocess.run([*git, "commit", "-q", "--allow-empty", "-m", "one"], check=True)
    data = Pipeline(write(repo, "p.toml", definition)).run().data["git"]
    rev = subprocess.run(
        [*git, "rev-parse", "--short", "HEAD"], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert data == {"branch": "main", "rev": rev, "root": str(repo.resolve())}


def test_cerberus_schemas_are_converted_or_refused_naming_the_rule():
    config = Configurator()
    config.add_option("name", schema={"type": "string", "empty": False})
    config.add_option("tags", default=[], optional=True, schema={"type": "list", "schema": {
        "type": "string", "allowed": ["a", "b"]}})  # fmt: skip
    config.add_option("tz", default=None, optional=True, schema={
        "type": "integer", "nullable": True, "min": -12, "max": 12})  # fmt: skip
    assert config.validate("c", {"name": "x", "tags": ["a"], "tz": None})["tz"].value is None
    for values, option in (({"name": ""}, "name"), ({"name": "x", "tags": ["z"]}, "tags[0]"),
                           ({"name": "x", "tz": 13}, "tz")):  # fmt: skip
        with pytest.raises(ValueError, match=re.escape(f"option '{option}'")):
            config.validate("c", values)
    with pytest.raises(ValueError, match=r"option 'when'.*Cerberus rule 'coerce'"):
        Configurator().add_option("when", schema={"type": "string", "coerce": "timedelta"})
    with pytest.raises(ValueError, match=r"Cerberus rule 'type'.*'datetime'"):
        Configurator().add_option("when", schema={"type": "datetime"})


def test_a_flowbber_style_filter_sink_and_source():
    seen = []

    class Keep(FilterSink):
        def distribute(self, data):
            super().distribute(data)
            seen.append(dict(data))

    class Fixed(Source):
        def collect(self):
            return {"a": 1, "b": {"c": 2, "d": 3}}

    from collector_app.registry import sink, source

    source.register("t.fixed")(Fixed)
    sink.register("t.keep")(Keep)
    try:
        Pipeline({"sources": [{"type": "t.fixed", "id": "s"}],
                  "sinks": [{"type": "t.keep", "id": "k", "config": {
                      "include": ["*"], "exclude": ["s.b.d"]}}]}).run()  # fmt: skip
    finally:
        source.unregister("t.fixed")
        sink.unregister("t.keep")
    assert seen == [{"s": {"a": 1, "b": {"c": 2}}}]


def test_the_old_recorder_archive_still_runs_with_a_deprecation_warning():
    definition = {
        "sources": [{"type": "config", "id": "c", "config": {"data": {"x": 1}}}],
        "sinks": [{"type": "archive", "id": "a", "config": {"filename": "b.json"}}],
    }
    with pytest.warns(DeprecationWarning, match=r"sinks\[0\].*renamed 'record'"):
        loaded = load_definition(definition)
    assert loaded.sinks[0].type == "record"
    definition["sinks"][0] = {"type": "archive", "id": "a", "config": {"output": "x.json"}}
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_definition(definition).sinks[0].type == "archive"


def test_collect_schedule_runs_the_section_in_process(tmp_path, capsys):
    from django.core.management import call_command

    text = YAML_EXAMPLE.replace("frequency: 1 seconds", "frequency: 50ms")
    call_command("collect", str(write(tmp_path, "p.yaml", text)), "--schedule", "--json")
    assert json.loads(capsys.readouterr().out)["runs"]["passed"] == 2


@pytest.mark.django_db(transaction=True)
def test_collector_schedule_import_makes_a_pipeline_schedule(tmp_path, settings):
    from django.core.management import CommandError, call_command

    from collector_app.models import PipelineSchedule

    text = YAML_EXAMPLE.replace("frequency: 1 seconds", "frequency: 1 hour")
    plain = CONFIG_EXAMPLE
    settings.COLLECTORS = {
        **getattr(settings, "COLLECTORS", {}),
        "PIPELINES": {
            "clock": str(write(tmp_path, "clock.yaml", text)),
            "plain": str(write(tmp_path, "plain.toml", plain)),
        },
    }
    call_command("collector_schedule", "import", "clock")
    schedule = PipelineSchedule.objects.get(name="clock")
    assert (schedule.pipeline, schedule.frequency, schedule.samples) == ("clock", 3600.0, 2)
    assert schedule.enabled and schedule.next_run is not None
    with pytest.raises(CommandError, match=r"pipeline 'plain' has no \[schedule\] section"):
        call_command("collector_schedule", "import", "plain")
