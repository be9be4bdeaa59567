"""Pipeline components of the demo: real local data (installed distributions, git history).

Listed in ``COLLECTORS["COMPONENT_MODULES"]`` so that worker processes register them too.
"""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from collector_app.components import Aggregator, Sink, Source
from collector_app.pushcollector import Collector
from collector_app.registry import aggregator, sink, source


def _field(meta: metadata.PackageMetadata, name: str) -> str | None:
    """The first value of a metadata field (Python 3.11's PackageMetadata has no ``get``)."""
    values = meta.get_all(name)
    return values[0] if values else None


def _licence(dist: metadata.Distribution) -> str:
    meta = dist.metadata
    expression = _field(meta, "License-Expression")
    if expression:
        return expression
    classifiers = [c for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    if classifiers:
        return classifiers[0].rsplit(" :: ", 1)[-1]
    text = (_field(meta, "License") or "").strip()
    return text.splitlines()[0][:80] if text else "unknown"


@source.register("demo.distributions")
class Distributions(Source):
    """The Python distributions installed next to this code, with versions and licences."""

    def collect(self) -> dict[str, Any]:
        found: dict[str, dict[str, str]] = {}
        for dist in metadata.distributions():
            name = _field(dist.metadata, "Name")
            if name:
                key = name.lower().replace("_", "-")
                found[key] = {"name": key, "version": dist.version, "licence": _licence(dist)}
        rows = [found[key] for key in sorted(found)]
        return {"count": len(rows), "distributions": rows}


@source.register("demo.git_log")
class GitLog(Source):
    """The last commits of the git checkout at ``path`` (nothing when it is not a checkout)."""

    def declare_config(self, config):
        config.add_option("path", schema={"type": "string"})
        config.add_option("limit", default=200, optional=True, schema={"type": "integer"})

    def collect(self) -> dict[str, Any]:
        path = Path(self.config.path.value)
        if not (path / ".git").exists():
            return {"available": False, "commits": []}
        out = subprocess.run(
            ["git", "log", f"-n{self.config.limit.value}", "--format=%H%x09%aI%x09%s"],
            cwd=path,
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout
        commits = []
        for line in out.splitlines():
            sha, when, subject = line.split("\t", 2)
            commits.append({"sha": sha, "date": when, "subject": subject})
        return {"available": True, "commits": commits}


@aggregator.register("demo.push_items")
class PushItems(Aggregator):
    """One push item per installed distribution, for the ``demo.new_push_items`` sink."""

    def declare_config(self, config):
        config.add_option("source", default="packages", optional=True, schema={"type": "string"})

    def accumulate(self, data) -> None:
        rows = data[self.config.source.value]["distributions"]
        data[self.id] = {
            "items": [
                {
                    "filename": f"{row['name']}-{row['version']}.dist-info",
                    "state": "EXISTS",
                    "origin": "site-packages",
                    "build": row["version"],
                    "licence": row["licence"],
                }
                for row in rows
            ]
        }


@sink.register("demo.new_push_items")
class NewPushItems(Sink):
    """Records the push items that the last run did not record, so each is recorded once.

    The filenames recorded are this component's state, saved only after the recorder wrote
    the new ones: a run whose recording fails records them again next time, and a fresh
    database starts over with every item.
    """

    def declare_config(self, config):
        config.add_option("source", default="push_items", optional=True, schema={"type": "string"})

    def make_default_state(self) -> dict[str, Any]:
        return {"recorded": []}

    def distribute(self, data) -> None:
        items = data[self.config.source.value]["items"]
        recorded = set(self.load_state()["recorded"])
        new = [item for item in items if item["filename"] not in recorded]
        if new:
            with Collector.get() as collector:
                collector.update_push_items(new).result()  # a failed write fails the sink
        self.save_state({"recorded": sorted(item["filename"] for item in items)})
