"""HTTP through requests: auth never crosses hosts, proxies from the environment, TLS options,
and an overall deadline that a trickling server cannot outlast (source, sink and shipping)."""

from __future__ import annotations

import json
import tempfile
import time

import pytest
from django.utils import timezone

from collector_app.gathering import Gatherer, gather
from collector_app.pipeline import Pipeline
from tests.support import gathering_collection
from tests.support.http_servers import (
    LocalServer,
    forwarding_proxy,
    make_tls_files,
    read_body,
    reply,
    server_context,
)

pytestmark = pytest.mark.django_db(transaction=True)  # gathers record runs and checkpoints
PROXY_VARIABLES = ["http_proxy", "https_proxy", "all_proxy", "no_proxy"]


@pytest.fixture(autouse=True)
def no_proxy_from_the_machine(monkeypatch):
    for name in PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def tls_files(tmp_path):
    return make_tls_files(tmp_path)


@pytest.fixture
def gathering(monkeypatch, tmp_path):
    gathering_collection.reset()
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    yield timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)
    assert list(private.iterdir()) == [], "a temporary folder leaked"


def gatherer(url: str, **settings) -> Gatherer:
    options = {
        "module": "tests.support.gathering_collection",
        "ingress_url": url,
        "http_retries": 0,
        "http_backoff": 0,
        "http_timeout": 5,
        **settings,
    }
    return Gatherer("analytics", **options)


def run_source(**config):
    journal = Pipeline({"sources": [{"type": "http", "id": "api", "config": config}]}).run()
    return journal, journal.entry("api")


def json_reply(handler):
    reply(handler, 200, json.dumps({"auth": handler.headers.get("Authorization")}).encode())


def accept(handler):
    read_body(handler)
    reply(handler, 202, b"accepted")


# -- credentials never follow a redirect to another host ----------------------------------------
def test_the_source_token_does_not_follow_a_redirect_to_another_host():
    with LocalServer(json_reply) as other:
        moved = f"http://localhost:{other.port}/data"  # another host name, same machine
        with LocalServer(lambda h: reply(h, 302, b"", Location=moved)) as first:
            journal, entry = run_source(url=f"{first.url}/data", token="t0ken")
    assert journal.passed, entry.error
    assert first.requests[0][2]["Authorization"] == "Bearer t0ken"
    assert journal.data["api"] == {"auth": None}  # the other host never saw the token


def test_the_shipping_token_header_does_not_follow_a_redirect_to_another_host(gathering):
    with LocalServer(accept) as other:
        moved = f"http://localhost:{other.port}/upload"
        with LocalServer(lambda h: (read_body(h), reply(h, 307, b"", Location=moved))) as first:
            result = gather(
                gatherer(f"{first.url}/upload", token="tok-123", token_header="X-Token"),
                keys=["hosts"],
                until=gathering,
            )
    assert result.ok, result.errors
    assert first.requests[0][2]["X-Token"] == "Bearer tok-123"
    (method, path, headers) = other.requests[0]
    assert (method, path) == ("POST", "/upload") and "X-Token" not in headers


# -- proxies from the environment ---------------------------------------------------------------
def test_uploads_go_through_the_proxy_from_the_environment(monkeypatch, gathering):
    with LocalServer(accept) as ingress, forwarding_proxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        assert gatherer(ingress.url).http_session().trust_env
        result = gather(gatherer(f"{ingress.url}/upload"), keys=["hosts"], until=gathering)
        assert result.ok, result.errors
        assert [r[:2] for r in proxy.requests] == [("POST", f"{ingress.url}/upload")]
        assert len(ingress.requests) == 1

        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        result = gather(gatherer(f"{ingress.url}/upload"), keys=["users"], until=gathering)
        assert result.ok, result.errors
        assert len(proxy.requests) == 1 and len(ingress.requests) == 2  # straight there


def test_the_source_and_sink_use_the_proxy_from_the_environment(monkeypatch):
    with LocalServer(json_reply) as api, forwarding_proxy() as proxy:
        monkeypatch.setenv("http_proxy", proxy.url)
        journal = Pipeline(
            {
                "sources": [{"type": "http", "id": "api", "config": {"url": f"{api.url}/a"}}],
                "sinks": [{"type": "http", "id": "out", "config": {"url": f"{api.url}/b"}}],
            }
        ).run()
    assert journal.passed, [e.error for e in journal.entries]
    assert sorted(r[:2] for r in proxy.requests) == [
        ("GET", f"{api.url}/a"),
        ("POST", f"{api.url}/b"),
    ]


# -- TLS: verify and cert -------------------------------------------------------------------------
@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")
def test_verify_and_cert_options_of_the_source(tls_files):
    cert, key = tls_files
    with LocalServer(json_reply, server_context(cert, key, client_ca=cert)) as api:
        url = f"{api.url}/data"
        journal, entry = run_source(url=url, verify=str(cert), cert=[str(cert), str(key)])
        assert journal.passed, entry.error
        _, entry = run_source(url=url, retries=0)  # system CAs do not know this certificate
        assert entry.status == "failed" and "SSLError" in entry.error_type
        _, entry = run_source(url=url, verify=str(cert), retries=0)  # no client certificate
        assert entry.status == "failed"
        journal, entry = run_source(url=url, verify=False, cert=[str(cert), str(key)])
        assert journal.passed, entry.error


def test_verify_and_cert_settings_of_the_shipping(tls_files, gathering):
    cert, key = tls_files
    with LocalServer(accept, server_context(cert, key, client_ca=cert)) as ingress:
        refused = gather(gatherer(ingress.url), keys=["hosts"], until=gathering)
        assert refused.status == "failed" and "SSLError" in refused.errors[0]
        shipping = gatherer(ingress.url, verify=str(cert), cert=(str(cert), str(key)))
        result = gather(shipping, keys=["hosts"], until=gathering)
    assert result.ok, result.errors
    assert len(ingress.requests) == 1


# -- an overall deadline --------------------------------------------------------------------------
def trickle_body(handler):
    """Headers at once, then the body one byte per second."""
    read_body(handler)
    handler.send_response(200)
    handler.send_header("Content-Length", "100")
    handler.end_headers()
    for _ in range(100):
        try:
            handler.wfile.write(b" ")
            handler.wfile.flush()
        except OSError:
            return
        time.sleep(1)


def trickle_headers(handler):
    read_body(handler)
    for byte in b"HTTP/1.1 202 Accepted\r\nX-Slow: " + b"x" * 100:
        try:
            handler.wfile.write(bytes([byte]))
            handler.wfile.flush()
        except OSError:
            return
        time.sleep(0.05 if byte != ord("x") else 1)


def test_a_trickling_server_cannot_hold_the_source_past_its_deadline():
    with LocalServer(trickle_body) as slow:
        started = time.monotonic()
        _, entry = run_source(url=slow.url, deadline=2, timeout=5, retries=0)
        took = time.monotonic() - started
    assert entry.status == "failed" and entry.error_type == "DeadlineExceeded"
    assert "2s deadline" in entry.error
    assert 1.9 < took < 4


def test_a_trickling_server_cannot_hold_the_sink_past_its_deadline():
    with LocalServer(trickle_body) as slow:
        journal = Pipeline(
            {
                "sources": [{"type": "timestamp", "id": "now"}],
                "sinks": [
                    {"type": "http", "id": "out", "config": {"url": slow.url, "deadline": 1}}
                ],
            }
        )
        journal.components["sinks"][0].retries = 0
        started = time.monotonic()
        entry = journal.run().entry("out")
    assert entry.status == "failed" and entry.error_type == "DeadlineExceeded"
    assert time.monotonic() - started < 3


@pytest.mark.parametrize("handler", [trickle_body, trickle_headers])
def test_a_trickling_ingress_cannot_hold_a_gather_past_the_deadline(handler, gathering):
    with LocalServer(handler) as slow:
        started = time.monotonic()
        result = gather(
            gatherer(slow.url, http_deadline=2, http_retries=2), keys=["hosts"], until=gathering
        )
        took = time.monotonic() - started
    assert result.status == "failed"
    assert "DeadlineExceeded" in result.tarballs[0].error and "2s deadline" in result.errors[0]
    assert took < 5  # retries included: the deadline covers the whole upload
