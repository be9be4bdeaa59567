"""Pipeline definitions: files or dicts, placeholders, and errors that name the exact path."""

from __future__ import annotations

import json

import pytest

from collector_app.components import Sink, Source
from collector_app.definition import DefinitionError, build_components, load_definition
from collector_app.registry import sink, source


class Numbers(Source):
    def collect(self):
        return {"n": 1}


class Uploader(Sink):
    def declare_config(self, config):
        config.add_option("uri", schema={"type": "string", "pattern": "^https?://"})
        config.add_option("token", optional=True, secret=True, schema={"type": "string"})

    def distribute(self, data):
        pass


@pytest.fixture(autouse=True)
def components():
    source.register("tests.numbers")(Numbers)
    sink.register("tests.upload")(Uploader)
    yield
    source.unregister("tests.numbers")
    sink.unregister("tests.upload")


def pipeline(**extra):
    data = {
        "sources": [{"type": "tests.numbers", "id": "numbers"}],
        "sinks": [
            {"type": "tests.upload", "id": "first", "config": {"uri": "http://127.0.0.1/a"}},
            {"type": "tests.upload", "id": "second", "config": {"uri": "http://127.0.0.1/b"}},
        ],
    }
    data.update(extra)
    return data


def error_of(data) -> DefinitionError:
    with pytest.raises(DefinitionError) as caught:
        build_components(load_definition(data, "p"))
    return caught.value


def test_a_valid_definition_builds_its_components():
    definition = load_definition(pipeline(), "p")
    assert [e.id for e in definition.entries()] == ["numbers", "first", "second"]
    built = build_components(definition)
    assert [c.id for c in built["sinks"]] == ["first", "second"]
    assert built["sinks"][1].config.uri.value == "http://127.0.0.1/b"


@pytest.mark.parametrize(
    ("change", "path", "fragment"),
    [
        (
            lambda d: d["sinks"][1]["config"].update(uri="ftp://x"),
            "sinks[1].config.uri",
            "does not match",
        ),
        (lambda d: d["sinks"][1]["config"].update(uri=3), "sinks[1].config.uri", "is not of type"),
        (lambda d: d["sinks"][0]["config"].pop("uri"), "sinks[0].config.uri", "is required"),
        (
            lambda d: d["sinks"][0]["config"].update(url="x"),
            "sinks[0].config.url",
            "unknown option",
        ),
        (
            lambda d: d["sources"][0].update(config={"x": 1}),
            "sources[0].config.x",
            "declared options: none",
        ),
        (
            lambda d: d["sinks"][1].update(id="first"),
            "sinks[1].id",
            "duplicate id 'first' (also used by sinks[0])",
        ),
        (lambda d: d["sinks"][1].pop("type"), "sinks[1].type", "is required"),
        (lambda d: d["sinks"][1].update(type="nope"), "sinks[1].type", "unknown sink 'nope'"),
        (lambda d: d["sinks"][1].update(timeout="soon"), "sinks[1].timeout", "is not a duration"),
        (lambda d: d["sinks"][1].update(optional="yes"), "sinks[1].optional", "true or false"),
        (lambda d: d["sinks"][1].update(colour="red"), "sinks[1].colour", "unknown key"),
        (lambda d: d.update(sinks={"a": 1}), "sinks", "must be a list"),
        (lambda d: d.update(sources=[]), "sources", "at least one source"),
        (lambda d: d.update(sauces=[]), "sauces", "unknown key"),
    ],
)
def test_errors_name_the_path(change, path, fragment):
    data = pipeline()
    change(data)
    error = error_of(data)
    assert error.path == path
    assert fragment in str(error)
    assert str(error).startswith(f"{path}: ")


def test_secret_values_stay_out_of_definition_errors():
    data = pipeline()
    data["sinks"][0]["config"]["token"] = 12345
    error = error_of(data)
    assert error.path == "sinks[0].config.token" and "12345" not in str(error)


def test_placeholders(monkeypatch, tmp_path, settings):
    monkeypatch.setenv("TARGET_HOST", "127.0.0.1")
    settings.EXPORT_NAME = "nightly"
    (tmp_path / ".git").mkdir()
    (tmp_path / "pipelines").mkdir()
    file = tmp_path / "pipelines" / "p.json"
    data = pipeline()
    data["sinks"][0]["config"]["uri"] = "http://{env.TARGET_HOST}/{settings.EXPORT_NAME}"
    data["sinks"][1]["config"]["uri"] = "http://x/{pipeline.dir}|{git.root}|{pipeline.name}|{{x}}"
    file.write_text(json.dumps(data))
    built = build_components(load_definition(file))
    assert built["sinks"][0].config.uri.value == "http://127.0.0.1/nightly"
    assert built["sinks"][1].config.uri.value == (
        f"http://x/{tmp_path / 'pipelines'}|{tmp_path}|p|{{x}}"
    )


@pytest.mark.parametrize(
    ("placeholder", "fragment"),
    [
        ("{nope.x}", "unknown placeholder namespace 'nope'"),
        ("{env.SURELY_NOT_SET_ANYWHERE}", "environment variable 'SURELY_NOT_SET_ANYWHERE'"),
        ("{settings.NO_SUCH_SETTING}", "setting 'NO_SUCH_SETTING' does not exist"),
        ("{pipeline.colour}", "pipeline.colour"),
        ("{plain}", "needs a namespace.name"),
    ],
)
def test_bad_placeholders_name_the_path(placeholder, fragment):
    data = pipeline()
    data["sinks"][1]["config"]["uri"] = "http://" + placeholder
    error = error_of(data)
    assert error.path == "sinks[1].config.uri" and fragment in str(error)


def test_toml_files_and_file_errors(tmp_path):
    file = tmp_path / "nightly.toml"
    file.write_text(
        '[[sources]]\ntype = "tests.numbers"\nid = "numbers"\n\n'
        '[[sinks]]\ntype = "tests.upload"\nid = "up"\nconfig = { uri = "https://127.0.0.1" }\n'
    )
    definition = load_definition(file)
    assert definition.name == "nightly" and definition.base_dir == tmp_path
    broken = tmp_path / "broken.toml"
    broken.write_text("[[sources]\n")
    with pytest.raises(DefinitionError, match="is not valid TOML"):
        load_definition(broken)
    with pytest.raises(DefinitionError, match="cannot read"):
        load_definition(tmp_path / "missing.json")


def test_result_names_the_data_a_task_returns():
    assert load_definition(pipeline(), "p").result is None
    assert load_definition(pipeline(result=["numbers"]), "p").result == ("numbers",)
    assert error_of(pipeline(result="numbers")).path == "result"
    bad = error_of(pipeline(result=["numbers", "first"]))
    assert bad.path == "result[1]"
    assert "'first' is not the id of a source or aggregator (known: numbers)" in str(bad)
