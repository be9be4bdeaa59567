"""The built-in components, found through the package's entry points."""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from collector_app.definition import DefinitionError
from collector_app.models import PipelineRun
from collector_app.pipeline import Pipeline


def run(sources, aggregators=(), sinks=()):
    journal = Pipeline(
        {"sources": list(sources), "aggregators": list(aggregators), "sinks": list(sinks)}, "t"
    ).run()
    failures = {e.id: e.error for e in journal.entries if e.status != "passed"}
    assert journal.passed, failures
    return journal.data


class Server:
    """A JSON endpoint on 127.0.0.1: GET answers, POST records; can fail the first calls."""

    def __init__(self, failures: int = 0):
        self.posts: list = []
        self.failures = failures
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def reply(self, status, body):
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                self.wfile.write(json.dumps(body).encode())

            def do_GET(self):
                if owner.failures:
                    owner.failures -= 1
                    return self.reply(503, {"error": "busy"})
                self.reply(200, {"path": self.path, "auth": self.headers.get("Authorization")})

            def do_POST(self):
                length = int(self.headers["Content-Length"])
                owner.posts.append(json.loads(self.rfile.read(length)))
                self.reply(201, {})

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self):
        self.httpd.shutdown()


@pytest.fixture
def server():
    servers = []

    def make(**kwargs):
        servers.append(Server(**kwargs))
        return servers[-1]

    yield make
    for item in servers:
        item.close()


def test_env_source_patterns_and_types(monkeypatch):
    monkeypatch.setenv("COLLECT_A", "1")
    monkeypatch.setenv("COLLECT_B", "true")
    monkeypatch.setenv("COLLECT_SECRET", "x")
    data = run(
        [
            {
                "type": "env",
                "id": "env",
                "config": {
                    "include": ["COLLECT_*"],
                    "exclude": ["*SECRET*"],
                    "types": {"COLLECT_A": "int", "COLLECT_B": "bool"},
                },
            }
        ]
    )
    assert data["env"] == {"COLLECT_A": 1, "COLLECT_B": True}


def test_timestamp_and_platform():
    data = run(
        [
            {"type": "timestamp", "id": "now", "config": {"epoch": False, "strftime": "%Y"}},
            {"type": "platform", "id": "host"},
        ]
    )
    assert set(data["now"]) == {"timezone", "strftime"}  # flowbber's: iso8601 is off by default
    assert data["host"]["cpu_count"] >= 1 and data["host"]["python"].startswith("3.")
    with pytest.raises(DefinitionError, match="at least one timestamp format"):
        Pipeline({"sources": [{"type": "timestamp", "id": "t", "config": {"epoch": False}}]})


def test_file_source_json_toml_csv(tmp_path):
    (tmp_path / "a.json").write_text('{"x": 1}')
    (tmp_path / "b.toml").write_text("y = 2\n")
    (tmp_path / "c.csv").write_text("name,n\nab,1\ncd,2\n")
    data = run(
        [
            {"type": "file", "id": "a", "config": {"path": str(tmp_path / "a.json")}},
            {"type": "file", "id": "b", "config": {"path": str(tmp_path / "b.toml")}},
            {"type": "file", "id": "c", "config": {"path": str(tmp_path / "c.csv")}},
        ]
    )
    assert data["a"] == {"x": 1} and data["b"] == {"y": 2}
    assert data["c"] == {"rows": [{"name": "ab", "n": "1"}, {"name": "cd", "n": "2"}]}


def test_http_source_retries_5xx_and_sends_the_token(server):
    endpoint = server(failures=1)
    data = run(
        [
            {
                "type": "http",
                "id": "api",
                "config": {"url": f"{endpoint.url}/figures", "token": "t0ken", "retries": 2},
            }
        ]
    )
    assert data["api"] == {"path": "/figures", "auth": "Bearer t0ken"}


def test_expression_and_filter_aggregators():
    data = run(
        [{"type": "file", "id": "f", "config": {"path": "pyproject.toml"}}],
        [
            {
                "type": "filter",
                "id": "keep",
                "config": {"include": ["f.project.name", "f.project.dependencies"]},
            },
            {
                "type": "expression",
                "id": "calc",
                "config": {
                    "expressions": {
                        "deps": "len(data.f.project.dependencies)",
                        "double": "len(data.f.project.dependencies) * 2 + 1",
                        "is_ours": "data.f.project.name == 'django-triggered-collectors'",
                    }
                },
            },
        ],
    )
    assert set(data["f"]["project"]) == {"name", "dependencies"}
    assert data["calc"]["double"] == data["calc"]["deps"] * 2 + 1
    assert data["calc"]["is_ours"] is True


def test_expressions_refuse_anything_but_arithmetic():
    journal = Pipeline(
        {
            "sources": [{"type": "timestamp", "id": "now"}],
            "aggregators": [
                {
                    "type": "expression",
                    "id": "x",
                    "config": {"expressions": {"bad": "__import__('os').system('true')"}},
                }
            ],
        }
    ).run()
    assert not journal.passed
    assert "not allowed in an expression" in journal.entry("x").error


@pytest.mark.parametrize(
    ("text", "named"),
    [
        ("3**3**16", "'3 ** 3 ** 16' would give a result of about 43046721 bits"),
        ("(2**4000) * 2**4000", "8001 bits; the limit is 4096 bits"),
        ("'ab' * 10**7", "20000000 items; the limit is 1000000 items"),
        ("[0] * 10**9", "1000000000 items"),
        ("'%0999999999d' % 1", "formats a string with '%': not allowed"),
        ("2.0 ** 100000", "Numerical result out of range"),
    ],
)
def test_expressions_too_large_to_compute_are_refused_at_once(text, named):
    started = time.monotonic()
    journal = Pipeline(
        {
            "sources": [{"type": "timestamp", "id": "now"}],
            "aggregators": [
                {"type": "expression", "id": "x", "config": {"expressions": {"big": text}}}
            ],
        }
    ).run()
    assert time.monotonic() - started < 5  # refused before computing, not cut off by a timeout
    assert not journal.passed
    error = journal.entry("x").error
    assert f"expression 'big' ({text!r})" in error
    assert named in error


def test_expressions_within_the_limits_still_compute():
    data = run(
        [{"type": "timestamp", "id": "now"}],
        [
            {
                "type": "expression",
                "id": "x",
                "config": {"expressions": {"p": "2**4000 // 2**3999", "s": "len('ab' * 1000)"}},
            }
        ],
    )
    assert data["x"] == {"p": 2, "s": 2000}


def test_json_file_and_http_sinks(tmp_path, server):
    endpoint = server()
    target = tmp_path / "out" / "bundle.json"
    run(
        [{"type": "timestamp", "id": "now"}],
        sinks=[
            {"type": "json_file", "id": "file", "config": {"path": str(target)}},
            {"type": "http", "id": "post", "config": {"url": f"{endpoint.url}/in"}},
        ],
    )
    written = json.loads(target.read_text())
    assert set(written) == {"now"} and endpoint.posts == [written]
    assert [p.name for p in target.parent.iterdir()] == ["bundle.json"]  # no temporary left


@pytest.mark.django_db(transaction=True)  # components use connections of their own threads
def test_django_query_source_and_django_model_sink(tmp_path):
    meta = tmp_path / "meta.json"
    meta.write_text(
        json.dumps(
            {
                "name": "from-sink",
                "status": "passed",
                "started": "2026-11-23T08:00:00+00:00",
                "duration": 1.5,
            }
        )
    )
    run(
        [{"type": "file", "id": "meta", "config": {"path": str(meta)}}],
        sinks=[
            {
                "type": "django_model",
                "id": "store",
                "config": {
                    "model": "collector_app.PipelineRun",
                    "fields": {
                        "pipeline": "meta.name",
                        "status": "meta.status",
                        "started": "meta.started",
                        "duration": "meta.duration",
                    },
                },
            }
        ],
    )
    assert PipelineRun.objects.get(pipeline="from-sink").duration == 1.5
    data = run(
        [
            {
                "type": "django_query",
                "id": "orm",
                "config": {
                    "model": "collector_app.PipelineRun",
                    "fields": ["pipeline", "started"],
                    "filter": {"pipeline": "from-sink"},
                },
            },
            {
                "type": "django_query",
                "id": "sql",
                "config": {
                    "sql": "SELECT pipeline FROM collector_app_pipelinerun WHERE duration > %s",
                    "params": [1],
                },
            },
        ]
    )
    assert data["orm"]["rows"][0]["pipeline"] == "from-sink"
    assert data["orm"]["rows"][0]["started"].startswith("2026-11-23T08:00:00")
    assert data["sql"]["rows"] == [{"pipeline": "from-sink"}]
