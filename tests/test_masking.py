"""Secrets stay masked in every stored or printed text: one masker, every form of a secret."""

from __future__ import annotations

import logging
import tempfile

import pytest
from django.utils import timezone

from collector_app import cli, masking, options
from collector_app.components import Source
from collector_app.definition import build_components, load_definition
from collector_app.gathering import Gatherer, Transport, gather
from collector_app.masking import MASK, Masker
from collector_app.models import GatherRun, PipelineRun
from collector_app.pipeline import Pipeline
from collector_app.registry import source
from collector_app.runs import record
from tests.support import gathering_collection
from tests.support.http_servers import LocalServer, read_body, reply

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "hunter2-s3cret"


@source.register("tests.mask.quote")
class Quote(Source):
    """Fails quoting its (non-secret) ``text``: another component's secret, say."""

    def declare_config(self, config):
        config.add_option("text")

    def collect(self):
        raise RuntimeError(f"cannot use {self.config.text.value!r}")


class LeakyTransport(Transport):
    """A third-party transport whose own error quotes the password."""

    def ship(self, path):
        raise ConnectionError(f"login as ops:{self.gatherer.password} refused")


@pytest.fixture
def gathering(monkeypatch, tmp_path):
    gathering_collection.reset()
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    yield timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    assert list(private.iterdir()) == [], "a temporary folder leaked"


def gatherer(**settings) -> Gatherer:
    options = {"module": "tests.support.gathering_collection", "http_retries": 0, "http_timeout": 5}
    return Gatherer("analytics", **{**options, **settings})


def assert_masked(text: str, secret: str = SECRET) -> None:
    assert secret not in text and secret.strip() not in text and MASK in text, text


# -- one masker ---------------------------------------------------------------------------------
def test_one_masker_masks_every_form_of_a_secret():
    assert cli.Masker is Masker and options.MASK is masking.MASK
    masker = Masker(["tok en\n", None, ""])
    assert masker.text("Invalid header value b'Bearer tok en\\n'") == (
        f"Invalid header value b'Bearer {MASK}'"  # the repr-escaped form, newline included
    )
    assert masker.text("sent tok en\n and tok%20en\n") == f"sent {MASK} and {MASK}\n"
    assert masker.text("stripped: 'tok en'") == f"stripped: '{MASK}'"
    assert masker.value({"k": ["a tok en b"]}) == {"k": [f"a {MASK} b"]}
    assert Masker().text("nothing to hide") == "nothing to hide"


def test_component_config_masks_the_stripped_secret():
    definition = load_definition(
        {"sources": [{"type": "http", "id": "a", "config": {"url": "http://x/", "token": "t0k\n"}}]}
    )
    (component,) = build_components(definition)["sources"]
    assert component.config.mask("header 'Bearer t0k\\n'") == f"header 'Bearer {MASK}'"


# -- pipelines ----------------------------------------------------------------------------------
def test_a_token_ending_in_a_newline_never_reaches_the_pipeline_run():
    token = f"{SECRET}\n"  # as read from a mounted secret file
    journal = Pipeline(
        {
            "sources": [
                {
                    "type": "http",
                    "id": "api",
                    "config": {"url": "http://127.0.0.1:9/", "token": token},
                }
            ]
        },
        "leaky",
    ).run()
    assert not journal.passed
    run = record(journal)
    stored = PipelineRun.objects.get(pk=run.pk)
    assert_masked(stored.error)
    assert_masked(journal.entry("api").error)
    assert SECRET not in str(stored.journal)


def test_another_components_secret_is_masked_too():
    journal = Pipeline(
        {
            "sources": [
                {"type": "tests.mask.quote", "id": "quote", "config": {"text": f"x{SECRET}x"}},
                {
                    "type": "http",
                    "id": "api",
                    "optional": True,
                    "config": {"url": "http://127.0.0.1:9/", "token": SECRET, "retries": 0},
                },
            ]
        },
        "quoting",
    ).run()
    assert_masked(journal.entry("quote").error)
    assert_masked(journal.error)
    assert SECRET not in (journal.entry("quote").traceback or "")


# -- gathering ----------------------------------------------------------------------------------
def test_a_shipping_token_ending_in_a_newline_never_reaches_the_gather_run(gathering, caplog):
    caplog.set_level(logging.DEBUG)
    seen = []
    with LocalServer(lambda h: (read_body(h), reply(h, 202))) as ingress:
        result = gather(
            gatherer(ingress_url=ingress.url, token=f"{SECRET}\n"),
            keys=["hosts"],
            until=gathering,
            listener=lambda kind, message: seen.append(message),
        )
    assert result.status == "failed"
    run = GatherRun.objects.get(pk=result.run_id)
    assert_masked(run.error)
    assert SECRET not in str(run.result) and SECRET not in "\n".join(seen)
    assert SECRET not in caplog.text


def test_a_third_party_transports_error_is_masked(gathering, caplog):
    caplog.set_level(logging.DEBUG)
    result = gather(
        gatherer(transport="tests.test_masking.LeakyTransport", username="ops", password=SECRET),
        keys=["hosts"],
        until=gathering,
    )
    assert result.status == "failed"
    run = GatherRun.objects.get(pk=result.run_id)
    assert "ConnectionError: login as ops:" in run.error
    assert_masked(run.error)
    assert_masked(result.tarballs[0].error)
    assert SECRET not in str(run.result) and SECRET not in caplog.text


@pytest.mark.parametrize("url", [f"http://ops:{SECRET}@/upload", f"ftp://ops:{SECRET}@host/x"])
def test_a_bad_ingress_url_is_never_quoted_with_its_password(url, gathering):
    result = gather(gatherer(ingress_url=url), keys=["hosts"], until=gathering)
    assert result.status == "failed"
    run = GatherRun.objects.get(pk=result.run_id)
    assert "must be http:// or https:// with a host" in run.error
    assert SECRET not in run.error and SECRET not in str(run.result)


# -- placeholders -------------------------------------------------------------------------------
def token_of(value: str) -> str:
    definition = load_definition(
        {"sources": [{"type": "http", "id": "a", "config": {"url": "http://x/", "token": value}}]}
    )
    (component,) = build_components(definition)["sources"]
    return component.config.token.value


def test_secret_options_are_never_parsed_as_placeholders(monkeypatch):
    monkeypatch.setenv("API_TOKEN", "pa}}ss{{word")
    assert token_of("{hunter2}") == "{hunter2}"
    assert token_of("pa}}ss{{word") == "pa}}ss{{word"
    assert token_of("{env.API_TOKEN}") == "pa}}ss{{word"  # a placeholder's value: never re-parsed
    assert token_of("{ env.API_TOKEN }") == "pa}}ss{{word"
    # other options keep placeholders and escapes
    definition = load_definition(
        {
            "sources": [
                {"type": "http", "id": "a", "config": {"url": "http://x/{{a}}/{env.API_TOKEN}"}}
            ]
        }
    )
    assert definition.sources[0].config["url"] == "http://x/{a}/pa}}ss{{word"
