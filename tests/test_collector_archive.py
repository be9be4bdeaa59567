"""The ``archive`` sink: a pipeline's bundle and push items recorded through a recorder."""

from __future__ import annotations

import json

import pytest
from django.test import override_settings

from collector_app.components import Source
from collector_app.definition import DefinitionError
from collector_app.pipeline import Pipeline
from collector_app.pushcollector import Collector
from collector_app.registry import source

ITEMS = [
    {"filename": "a-1.0.tar.gz", "state": "PUSHED", "origin": "build", "extra": "kept"},
    {"filename": "b-2.0.tar.gz", "state": "EXISTS", "checksums": {"md5": "0" * 32}},
]


class Packages(Source):
    def declare_config(self, config):
        config.add_option("entries", default=ITEMS, optional=True)

    def collect(self):
        return {"count": len(self.config.entries.value), "items": self.config.entries.value}


@pytest.fixture(autouse=True)
def packages():
    source.register("t.archive.packages")(Packages)
    yield
    source.unregister("t.archive.packages")


def pipeline(items=ITEMS, **sink_config):
    return Pipeline(
        {
            "sources": [{"type": "t.archive.packages", "id": "pkgs", "config": {"entries": items}}],
            "sinks": [{"type": "record", "id": "archive", "config": sink_config}],
        },
        "archive-test",
    )


def test_the_bundle_and_its_push_items_are_recorded_in_the_run_folder(tmp_path):
    with override_settings(COLLECTORS={"ARTIFACTS_ROOT": tmp_path}):
        with Collector.new_run() as run:
            journal = pipeline(push_items="pkgs.items").run()
    assert journal.passed, journal.entry("archive").error
    folder = tmp_path / run.id
    lines = (folder / "pushitems.jsonl").read_text().splitlines()
    assert [json.loads(line) for line in lines] == ITEMS  # extra keys kept
    bundle = json.loads((folder / "bundle.json").read_text())
    assert bundle == {"pkgs": {"count": 2, "items": ITEMS}}
    assert (tmp_path / "latest").resolve() == folder.resolve()


def test_an_invalid_item_fails_the_sink_naming_it_and_records_nothing(tmp_path):
    bad = [ITEMS[0], {"filename": "c", "state": "pushed"}]
    with override_settings(COLLECTORS={"ARTIFACTS_ROOT": tmp_path}):
        with Collector.new_run() as run:
            journal = pipeline(bad, push_items="pkgs.items", attach=False).run()
    entry = journal.entry("archive")
    assert not journal.passed and entry.status == "failed"
    assert "push item 1, field 'state'" in entry.error
    assert not (tmp_path / run.id / "pushitems.jsonl").exists()


def test_a_missing_or_wrong_items_path_is_a_clear_error(tmp_path):
    with override_settings(COLLECTORS={"ARTIFACTS_ROOT": tmp_path}):
        assert (
            "no value at 'pkgs.nope'"
            in pipeline(push_items="pkgs.nope").run().entry("archive").error
        )
        wrong = pipeline(push_items="pkgs.count").run().entry("archive").error
        assert "'pkgs.count' holds int, not a list" in wrong


def test_option_names_that_would_hide_config_methods_are_refused():
    class Hiding(Source):
        def declare_config(self, config):
            config.add_option("items")

        def collect(self):
            return {}

    with pytest.raises(ValueError, match="option key 'items' is reserved"):
        Hiding(0, "t", "hiding", config={"items": 1})


def test_other_backends_and_nothing_to_record(tmp_path):
    with override_settings(COLLECTORS={"ARTIFACTS_ROOT": tmp_path}):
        assert pipeline(backend="dummy", push_items="pkgs.items").run().passed
        assert not any(tmp_path.iterdir())  # the dummy backend stores nothing
        with pytest.raises(DefinitionError, match=r"sinks\[0\]\.config: .*nothing to record"):
            pipeline(attach=False)
        with pytest.raises(DefinitionError, match="no recorder backend named 'nope'; known"):
            pipeline(backend="nope")
