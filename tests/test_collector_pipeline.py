"""Running pipelines: order, concurrency, timeouts, optional components, journals, secrets."""

from __future__ import annotations

import threading
import time

import pytest

from collector_app.components import Aggregator, Sink, Source
from collector_app.options import MASK
from collector_app.pipeline import Pipeline
from collector_app.registry import aggregator, sink, source

RECEIVED: dict[str, list] = {}


class Value(Source):
    def declare_config(self, config):
        config.add_option("value", default=1, optional=True)
        config.add_option("sleep", default=0, optional=True, schema={"type": "number"})
        config.add_option("fail", default=False, optional=True, schema={"type": "boolean"})
        config.add_option("password", default=None, optional=True, secret=True)

    def collect(self):
        time.sleep(self.config.sleep.value)
        if self.config.fail.value:
            raise RuntimeError(f"could not log in with {self.config.password.value}")
        return {"value": self.config.value.value}


class Busy(Source):
    """Pure Python work that a timeout can interrupt."""

    def collect(self):
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pass
        return {}


class Dies(Source):
    def collect(self):
        raise SystemExit(3)


class NotADict(Source):
    def collect(self):
        return [1, 2]


class Double(Aggregator):
    def declare_config(self, config):
        config.add_option("fail", default=False, optional=True)

    def accumulate(self, data):
        for key in list(data):
            data[key] = {"value": data[key]["value"] * 2}
        if self.config.fail.value:
            raise ValueError("half way through")


class Collect(Sink):
    retry_backoff = 0.01

    def declare_config(self, config):
        config.add_option("failures", default=0, optional=True)

    def distribute(self, data):
        RECEIVED.setdefault(self.id, []).append(dict(data))
        data.clear()  # must not affect any other sink
        if len(RECEIVED[self.id]) <= self.config.failures.value:
            raise ConnectionError("try again")


class RetryingCollect(Collect):
    retries = 2


REGISTRATIONS = [
    (source, "t.value", Value),
    (source, "t.busy", Busy),
    (source, "t.dies", Dies),
    (source, "t.notadict", NotADict),
    (aggregator, "t.double", Double),
    (sink, "t.collect", Collect),
    (sink, "t.retrying", RetryingCollect),
]


@pytest.fixture(autouse=True)
def components():
    for registry, name, cls in REGISTRATIONS:
        registry.register(name)(cls)
    RECEIVED.clear()
    yield
    for registry, name, _ in REGISTRATIONS:
        registry.unregister(name)


def src(id_, **config):
    entry = {"type": "t.value", "id": id_, "config": config}
    for key in ("optional", "timeout"):
        if key in config:
            entry[key] = config.pop(key)
    return entry


def run(sources, aggregators=(), sinks=None, **kwargs):
    definition = {
        "sources": list(sources),
        "aggregators": list(aggregators),
        "sinks": list(sinks if sinks is not None else [{"type": "t.collect", "id": "out"}]),
    }
    return Pipeline(definition, "test", **kwargs).run()


def test_sources_then_aggregators_then_sinks():
    journal = run(
        [src("a", value=1), src("b", value=5)],
        [{"type": "t.double", "id": "double"}],
        [{"type": "t.collect", "id": "one"}, {"type": "t.collect", "id": "two"}],
    )
    assert journal.passed and journal.error is None
    assert list(journal.data) == ["a", "b"]
    assert journal.data == {"a": {"value": 2}, "b": {"value": 10}}
    assert RECEIVED["one"] == RECEIVED["two"] == [{"a": {"value": 2}, "b": {"value": 10}}]
    assert [(e.id, e.kind, e.status) for e in journal.entries] == [
        ("a", "source", "passed"),
        ("b", "source", "passed"),
        ("double", "aggregator", "passed"),
        ("one", "sink", "passed"),
        ("two", "sink", "passed"),
    ]
    assert all(e.start and e.duration is not None for e in journal.entries)


def test_sources_run_concurrently_with_a_cap():
    started = time.monotonic()
    assert run([src("a", sleep=0.5), src("b", sleep=0.5)]).passed
    assert time.monotonic() - started < 0.9
    started = time.monotonic()
    assert run([src("a", sleep=0.3), src("b", sleep=0.3)], max_concurrency=1).passed
    assert time.monotonic() - started >= 0.6


def test_a_component_over_its_timeout_fails_and_is_stopped():
    started = time.monotonic()
    journal = run([{"type": "t.busy", "id": "busy", "timeout": "0.2s"}, src("ok")])
    assert time.monotonic() - started < 1.5
    assert not journal.passed
    entry = journal.entry("busy")
    assert (entry.status, entry.error_type) == ("timed-out", "ComponentTimeout")
    assert "within 0.2s" in entry.error
    assert journal.entry("out").status == "not-run"
    deadline = time.monotonic() + 2  # the busy loop was interrupted, not left spinning
    while time.monotonic() < deadline and any(
        t.name == "collector busy" for t in threading.enumerate()
    ):
        time.sleep(0.02)
    assert not any(t.name == "collector busy" for t in threading.enumerate())


def test_a_hanging_optional_component_is_skipped_and_never_hangs_the_run():
    started = time.monotonic()
    journal = run([src("slow", sleep=5, timeout=0.2, optional=True), src("ok")])
    assert time.monotonic() - started < 1.5
    assert journal.passed
    assert journal.entry("slow").status == "skipped-optional"
    assert RECEIVED["out"] == [{"ok": {"value": 1}}]


def test_a_failed_required_source_fails_the_run_and_no_sink_runs():
    journal = run([src("a", fail=True), src("b")], [{"type": "t.double", "id": "double"}])
    assert not journal.passed and "required source 'a' failed" in journal.error
    assert journal.entry("double").status == journal.entry("out").status == "not-run"
    assert "out" not in RECEIVED


def test_every_source_failing_fails_the_run_cleanly():
    journal = run([src("a", fail=True, optional=True), src("b", fail=True, optional=True)])
    assert not journal.passed and "every source failed" in journal.error
    assert "out" not in RECEIVED


def test_dead_or_wrong_components_fail_without_stopping_the_run():
    journal = run(
        [
            {"type": "t.dies", "id": "dies", "optional": True},
            {"type": "t.notadict", "id": "list", "optional": True},
            src("ok"),
        ]
    )
    assert journal.passed
    assert journal.entry("dies").error_type == "SystemExit"
    assert "returned list" in journal.entry("list").error


def test_when_every_optional_aggregator_fails_sinks_get_the_sources_data():
    journal = run(
        [src("a", value=3)],
        [
            {"type": "t.double", "id": "d1", "optional": True, "config": {"fail": True}},
            {"type": "t.double", "id": "d2", "optional": True, "config": {"fail": True}},
        ],
    )
    assert journal.passed
    assert RECEIVED["out"] == [{"a": {"value": 3}}]  # no half-applied doubling


def test_a_failed_required_aggregator_stops_before_the_sinks():
    journal = run([src("a")], [{"type": "t.double", "id": "d", "config": {"fail": True}}])
    assert not journal.passed and journal.entry("out").status == "not-run"


def test_sink_retries_with_backoff_and_a_failed_required_sink_fails_the_run():
    journal = run(
        [src("a")],
        sinks=[
            {"type": "t.retrying", "id": "flaky", "config": {"failures": 2}},
            {"type": "t.collect", "id": "broken", "config": {"failures": 5}},
        ],
    )
    assert journal.entry("flaky").status == "passed" and journal.entry("flaky").attempts == 3
    assert len(RECEIVED["flaky"]) == 3 and RECEIVED["flaky"][-1] == {"a": {"value": 1}}
    assert journal.entry("broken").status == "failed" and journal.entry("broken").attempts == 1
    assert not journal.passed and "broken" in journal.error


def test_journals_carry_errors_with_secrets_masked():
    journal = run([src("login", fail=True, password="s3cr3t-pass")])
    entry = journal.entry("login")
    assert entry.error_type == "RuntimeError"
    assert entry.error == f"could not log in with {MASK}"
    assert "Traceback" in entry.traceback and "s3cr3t-pass" not in entry.traceback
    assert "s3cr3t-pass" not in str(journal.to_dict())
    assert "data" not in journal.to_dict()


def test_a_listener_sees_each_component_start_and_end():
    seen = []
    definition = {
        "sources": [src("a", value=1), src("b", fail=True, optional=True)],
        "sinks": [{"type": "t.collect", "id": "out"}],
    }
    journal = Pipeline(definition, "test").run(
        listener=lambda entry: seen.append((entry.id, entry.status))
    )
    assert journal.passed
    for component, end in (("a", "passed"), ("b", "skipped-optional"), ("out", "passed")):
        assert [s for i, s in seen if i == component] == ["running", end]
    assert seen.index(("out", "running")) > max(
        seen.index(("a", "passed")), seen.index(("b", "skipped-optional"))
    )


def test_a_broken_listener_does_not_break_the_run():
    def listener(entry):
        raise RuntimeError("display gone")

    definition = {"sources": [src("a")], "sinks": [{"type": "t.collect", "id": "out"}]}
    assert Pipeline(definition, "test").run(listener=listener).passed
    assert RECEIVED["out"] == [{"a": {"value": 1}}]


def test_without_distribute_no_sink_runs():
    definition = {
        "sources": [src("a", value=3)],
        "aggregators": [{"type": "t.double", "id": "double"}],
        "sinks": [{"type": "t.collect", "id": "out"}],
    }
    journal = Pipeline(definition, "test").run(distribute=False)
    assert journal.passed and journal.data == {"a": {"value": 6}}
    assert journal.entry("out").status == "not-run" and "out" not in RECEIVED


# -- fast copies and JSON checks (collector_app.json_data) -----------------------------------------
# Own component names ("fast.*") and a fixture of their own, so other appended tests are unaffected.

import copy as _copy_module  # noqa: E402
import json as _json  # noqa: E402
import sys as _sys  # noqa: E402
from collections import OrderedDict as _OrderedDict  # noqa: E402

from collector_app.json_data import check_json, json_copy  # noqa: E402

SHARED_SOURCE_DATA = {"nested": {"items": [1, 2, {"deep": "x"}]}, "n": 1}


class SharedData(Source):
    """Returns the same module-level dict every time: the pipeline must never change it."""

    def collect(self):
        return SHARED_SOURCE_DATA


class BigData(Source):
    def declare_config(self, config):
        config.add_option("bad", default=False, optional=True)

    def collect(self):
        data = {f"key{i}": i for i in range(5000)}
        data["list"] = list(range(5000))
        if self.config.bad.value:
            data["list"].append({"a set": {1, 2}})
        return data


class NestedMutation(Aggregator):
    def declare_config(self, config):
        config.add_option("fail", default=False, optional=True)

    def accumulate(self, data):
        for value in data.values():
            value["nested"]["items"].append("added")
            value["nested"]["items"][2]["deep"] = "changed"
        if self.config.fail.value:
            raise ValueError("half way through")


class NestedCollect(Sink):
    def distribute(self, data):
        RECEIVED.setdefault(self.id, []).append(_copy_module.deepcopy(data))
        for value in data.values():  # change this sink's copy deep down
            value["nested"]["items"].clear()
            value["nested"]["new"] = self.id


FAST_REGISTRATIONS = [
    (source, "fast.shared", SharedData),
    (source, "fast.big", BigData),
    (aggregator, "fast.mutate", NestedMutation),
    (sink, "fast.collect", NestedCollect),
]


@pytest.fixture
def fast_components():
    for registry, name, cls in FAST_REGISTRATIONS:
        registry.register(name)(cls)
    original = _copy_module.deepcopy(SHARED_SOURCE_DATA)
    yield
    for registry, name, _ in FAST_REGISTRATIONS:
        registry.unregister(name)
    SHARED_SOURCE_DATA.clear()
    SHARED_SOURCE_DATA.update(original)


def test_json_copy_copies_nested_dicts_and_lists_and_keeps_order_and_types():
    inner = {"z": 1, "a": [1, {"b": None}], "m": 2.5}
    data = _OrderedDict([("second", inner), ("first", [inner, "text", True])])
    copied = json_copy(data)
    assert copied == data and type(copied) is _OrderedDict
    assert list(copied) == ["second", "first"] and list(copied["second"]) == ["z", "a", "m"]
    assert copied["second"] is not inner and copied["second"]["a"] is not inner["a"]
    assert copied["second"]["a"][1] is not inner["a"][1]
    copied["second"]["a"][1]["b"] = "changed"
    copied["first"].append("more")
    assert inner == {"z": 1, "a": [1, {"b": None}], "m": 2.5}
    assert data["first"] == [inner, "text", True]


def test_json_copy_keeps_shared_objects_and_cycles_like_deepcopy():
    shared = [1, 2]
    data = {"a": shared, "b": {"again": shared}}
    data["self"] = data
    copied = json_copy(data)
    assert copied["a"] is copied["b"]["again"] and copied["a"] is not shared
    assert copied["self"] is copied


def test_json_copy_hands_other_objects_to_deepcopy():
    class Thing:
        def __init__(self):
            self.items = [1]

    data = {"tuple": (1, [2]), "set": {3}, "thing": Thing(), "default": _OrderedDict(a=[1])}
    copied = json_copy(data)
    assert copied["tuple"] == (1, [2]) and copied["tuple"][1] is not data["tuple"][1]
    assert copied["set"] == {3} and copied["set"] is not data["set"]
    assert copied["thing"].items == [1] and copied["thing"] is not data["thing"]
    assert copied["default"] == {"a": [1]} and copied["default"]["a"] is not data["default"]["a"]


def _json_error(value):
    try:
        _json.dumps(value)
    except (TypeError, ValueError) as exc:
        return type(exc)
    return None


def _check_error(value):
    try:
        check_json(value)
    except (TypeError, ValueError) as exc:
        return type(exc)
    return None


def _cases():
    big = {f"k{i}": i for i in range(3000)}
    circular = {f"k{i}": i for i in range(3000)}
    circular["loop"] = [circular]
    huge_int = [*range(3000), 10 ** (_sys.get_int_max_str_digits() + 1)]
    return {
        "big flat dict": big,
        "big flat dict under a small one": {"source": big, "n": [1.5, None, True]},
        "big list with a set deep inside": {"a": [*range(3000), {"x": [{1}]}]},
        "non-str keys": {1: "a", None: "b", 2.5: [1]},
        "tuple keys": {(1, 2): "a"},
        "tuples and subclasses": [(1, 2), _OrderedDict(a=1), float("nan")],
        "an object": {"when": object()},
        "bytes": [*range(3000), b"raw"],
        "circular": circular,
        "huge int": huge_int,
        "many nested containers": {f"k{i}": {"v": [i]} for i in range(3000)},
        "many nested with one bad": {**{f"k{i}": {"v": [i]} for i in range(3000)}, "z": {1}},
    }


@pytest.mark.parametrize("case", sorted(_cases()))
def test_check_json_fails_exactly_when_json_dumps_fails(case):
    value = _cases()[case]
    assert _check_error(value) is _json_error(value)


def test_a_source_with_non_json_data_deep_in_a_big_dict_fails(fast_components):
    journal = run([{"type": "fast.big", "id": "big", "config": {"bad": True}}])
    assert not journal.passed
    entry = journal.entry("big")
    assert entry.error_type == "TypeError" and "not JSON" in entry.error and "set" in entry.error
    assert run([{"type": "fast.big", "id": "big"}]).data["big"]["key4999"] == 4999


def test_aggregators_never_change_what_a_source_returned(fast_components):
    journal = run(
        [{"type": "fast.shared", "id": "shared"}],
        [{"type": "fast.mutate", "id": "mutate"}],
        [],
    )
    assert journal.passed
    assert journal.data["shared"]["nested"]["items"] == [1, 2, {"deep": "changed"}, "added"]
    assert SHARED_SOURCE_DATA == {"nested": {"items": [1, 2, {"deep": "x"}]}, "n": 1}


def test_a_failed_aggregator_leaves_nested_data_as_it_was(fast_components):
    journal = run(
        [{"type": "fast.shared", "id": "shared"}],
        [{"type": "fast.mutate", "id": "mutate", "optional": True, "config": {"fail": True}}],
        [{"type": "fast.collect", "id": "out"}],
    )
    assert journal.passed and journal.entry("mutate").status == "skipped-optional"
    assert RECEIVED["out"] == [{"shared": {"nested": {"items": [1, 2, {"deep": "x"}]}, "n": 1}}]


def test_a_sink_changing_its_copy_deep_down_affects_no_other_sink(fast_components):
    expected = {"shared": {"nested": {"items": [1, 2, {"deep": "changed"}, "added"]}, "n": 1}}
    for max_concurrency in (8, 1):  # concurrent sinks, and one after the other
        RECEIVED.clear()
        journal = run(
            [{"type": "fast.shared", "id": "shared"}],
            [{"type": "fast.mutate", "id": "mutate"}],
            [{"type": "fast.collect", "id": f"sink{i}"} for i in range(3)],
            max_concurrency=max_concurrency,
        )
        assert journal.passed
        assert [RECEIVED[f"sink{i}"] for i in range(3)] == [[expected]] * 3
        assert journal.data == expected
    assert SHARED_SOURCE_DATA == {"nested": {"items": [1, 2, {"deep": "x"}]}, "n": 1}


def test_a_single_sink_or_a_cap_of_one_still_times_out_and_retries():
    started = time.monotonic()
    journal = run(
        [src("a", sleep=5, timeout=0.2, optional=True), src("b", value=2)],
        sinks=[{"type": "t.retrying", "id": "flaky", "config": {"failures": 1}}],
        max_concurrency=1,
    )
    assert time.monotonic() - started < 1.5
    assert journal.passed and journal.entry("a").status == "skipped-optional"
    assert journal.entry("flaky").attempts == 2 and RECEIVED["flaky"][-1] == {"b": {"value": 2}}


class TooDeep(Source):
    def collect(self):
        nested = []
        for _ in range(100_000):
            nested = [nested]
        return {"nested": nested}


def test_a_source_returning_data_nested_too_deep_fails_cleanly():
    source.register("fast.toodeep")(TooDeep)
    try:
        journal = run([{"type": "fast.toodeep", "id": "deep", "optional": True}, src("ok")])
    finally:
        source.unregister("fast.toodeep")
    assert journal.passed and RECEIVED["out"] == [{"ok": {"value": 1}}]
    entry = journal.entry("deep")
    assert entry.status == "skipped-optional" and "not JSON" in entry.error
