"""Component bases, declared options (JSON Schema, validators, secrets) and the registry."""

from __future__ import annotations

from collections import OrderedDict
from unittest import mock

import pytest

from collector_app.components import Aggregator, Sink, Source, parse_timeout
from collector_app.options import MASK, OptionError
from collector_app.registry import ComponentRegistryError, load_component_modules, source
from collector_app.registry import sink as sink_registry


class MongoSink(Sink):
    def declare_config(self, config):
        config.add_option(
            "uri",
            default=None,
            optional=True,
            secret=True,
            schema={"type": ["string", "null"], "minLength": 10},
        )
        config.add_option("database", schema={"type": "string", "minLength": 1})
        config.add_option(
            "port",
            default=27017,
            optional=True,
            schema={"type": "integer", "minimum": 1, "maximum": 65535},
        )
        config.add_option(
            "tags", default=[], optional=True, schema={"type": "array", "items": {"type": "string"}}
        )

        def uri_or_port(validated):
            if validated["uri"] and "port" in validated and validated["port"] != 27017:
                raise ValueError(f"give uri {validated['uri']} or port, not both")

        config.add_validator(uri_or_port)

    def distribute(self, data):
        self.received = data


class CountSource(Source):
    def collect(self):
        return {"count": 3}


class Total(Aggregator):
    def accumulate(self, data):
        data["total"] = {"sum": sum(v.get("count", 0) for v in data.values())}


def mongo(**config):
    return MongoSink(0, "mongo", "store", config=config)


def test_constructor_information_and_validated_options():
    component = MongoSink(
        2, "mongo", "store", optional=True, timeout="1.5s", config={"database": "db", "tags": ["a"]}
    )
    assert (component.index, component.type, component.id) == (2, "mongo", "store")
    assert component.optional is True and component.timeout == 1.5
    assert component.config.database.value == "db"
    assert component.config.port.value == 27017  # default of an optional option
    assert component.config.uri.is_secret and not component.config.database.is_secret
    assert component.kind == "sink"


def test_components_without_options_reject_any_option():
    with pytest.raises(
        OptionError,
        match=r"component 'count', option 'extra': unknown option \(declared options: none\)",
    ):
        CountSource(0, "count", "count", config={"extra": 1})


@pytest.mark.parametrize(
    ("config", "option", "fragment"),
    [
        ({}, "database", "is required"),
        ({"database": "db", "prot": 1}, "prot", "unknown option"),
        ({"database": ""}, "database", "should be non-empty"),
        ({"database": "db", "port": 70000}, "port", "70000 is greater than the maximum"),
        ({"database": "db", "tags": ["a", 3]}, "tags[1]", "3 is not of type 'string'"),
    ],
)
def test_bad_options_name_the_component_and_the_option(config, option, fragment):
    with pytest.raises(OptionError) as caught:
        mongo(**config)
    assert caught.value.component == "store"
    assert caught.value.option == option
    assert fragment in str(caught.value)
    assert str(caught.value).startswith(f"component 'store', option '{option}'")


def test_secret_values_never_appear_in_errors_repr_or_masked_values():
    secret = "short"
    with pytest.raises(OptionError) as caught:
        mongo(database="db", uri=secret)
    assert secret not in str(caught.value)
    assert "'minLength' rule" in str(caught.value)

    long_secret = "mongodb://admin:hunter2@127.0.0.1"
    with pytest.raises(OptionError) as caught:
        mongo(database="db", uri=long_secret, port=1)
    assert "hunter2" not in str(caught.value) and MASK in str(caught.value)

    component = mongo(database="db", uri=long_secret)
    assert component.config.uri.value == long_secret
    for text in (
        repr(component),
        repr(component.config),
        repr(component.config.uri),
        str(component.config.masked()),
    ):
        assert "hunter2" not in text
    assert component.config.masked()["uri"] == MASK
    assert component.config.mask(f"cannot connect to {long_secret}") == f"cannot connect to {MASK}"


def test_validators_may_change_values_before_freezing():
    class Trim(Source):
        def declare_config(self, config):
            config.add_option("name", schema={"type": "string"})
            config.add_validator(lambda values: values.update(name=values["name"].strip()))

        def collect(self):
            return {}

    assert Trim(0, "trim", "t", config={"name": "  x "}).config.name.value == "x"


def test_declarations_are_checked():
    class Bad(Source):
        def declare_config(self, config):
            config.add_option("class")

        def collect(self):
            return {}

    with pytest.raises(ValueError, match="usable as a Python attribute"):
        Bad(0, "bad", "b")

    class BadSchema(Source):
        def declare_config(self, config):
            config.add_option("x", schema={"type": "nonsense"})

        def collect(self):
            return {}

    with pytest.raises(ValueError, match="invalid JSON Schema"):
        BadSchema(0, "bad", "b")


@pytest.mark.parametrize(
    ("value", "seconds"), [(3, 3.0), (1.5, 1.5), ("1.5s", 1.5), ("500ms", 0.5), ("2m", 120.0)]
)
def test_timeouts(value, seconds):
    assert parse_timeout(value) == seconds


@pytest.mark.parametrize("value", ["soon", 0, -1, True, "1.5 hours"])
def test_bad_timeouts(value):
    with pytest.raises(OptionError, match="option 'timeout'"):
        parse_timeout(value, "src")


def test_abstract_methods_must_be_implemented():
    class Lazy(Source):
        pass

    with pytest.raises(TypeError, match="collect"):
        Lazy(0, "lazy", "l")


def test_aggregator_mutates_the_bundle():
    bundle = OrderedDict(a={"count": 1}, b={"count": 2})
    Total(0, "total", "t").accumulate(bundle)
    assert list(bundle) == ["a", "b", "total"] and bundle["total"] == {"sum": 3}


class TestRegistry:
    def teardown_method(self):
        for name in ("tests.count", "tests.other"):
            source.unregister(name)

    def test_decorator_registration_and_lookup(self):
        source.register("tests.count")(CountSource)
        assert source.get("tests.count") is CountSource
        assert "tests.count" in source.names()

    def test_duplicates_name_both_places(self):
        source.register("tests.count")(CountSource)

        class Other(Source):
            def collect(self):
                return {}

        with pytest.raises(ComponentRegistryError) as caught:
            source.register("tests.count")(Other)
        message = str(caught.value)
        assert "test_collector_components.CountSource" in message
        assert "Other" in message

    def test_only_components_of_the_right_kind(self):
        with pytest.raises(ComponentRegistryError, match=r"not a collector_app\.components\.Sink"):
            sink_registry.register("tests.other")(CountSource)

    def test_unknown_names_list_the_known_ones(self):
        source.register("tests.count")(CountSource)
        with pytest.raises(ComponentRegistryError, match=r"unknown source 'nope'.*tests\.count"):
            source.get("nope")

    def test_entry_points(self):
        ep = mock.Mock(value="pkg.mod:CountSource", dist=mock.Mock())
        ep.name = "plugged"
        ep.dist.name = "pkg"
        ep.load.return_value = CountSource
        with mock.patch("triggers.plugins.entry_points", return_value=[ep]):
            assert source.get("plugged") is CountSource
            with pytest.raises(ComponentRegistryError) as caught:
                source.register("plugged")(CountSource)
            assert "entry point 'pkg.mod:CountSource' of pkg" in str(caught.value)
        twin = mock.Mock(value="other.mod:Count", dist=None)
        twin.name = "plugged"
        with (
            mock.patch("triggers.plugins.entry_points", return_value=[ep, twin]),
            pytest.raises(ComponentRegistryError, match="registered twice"),
        ):
            source.get("plugged")

    def test_local_components_file_next_to_the_pipeline(self, tmp_path):
        (tmp_path / "flowconf.py").write_text(
            "from collector_app.components import Source\n"
            "from collector_app.registry import source\n\n"
            "@source.register('tests.other')\n"
            "class Local(Source):\n"
            "    def collect(self):\n"
            "        return {'local': True}\n"
        )
        load_component_modules(tmp_path / "pipeline.toml")
        load_component_modules(tmp_path / "pipeline.toml")  # loading twice is harmless
        assert source.get("tests.other")(0, "x", "x").collect() == {"local": True}
