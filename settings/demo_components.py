"""Pipeline components of the demo: real local data (installed distributions, git history).

Listed in ``COLLECTORS["COMPONENT_MODULES"]`` so that worker processes register them too.
"""

from __future__ import annotations

import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from collector_app.components import Aggregator, Source
from collector_app.registry import aggregator, source


def _licence(dist: metadata.Distribution) -> str:
    meta = dist.metadata
    expression = meta.get("License-Expression")
    if expression:
        return expression
    classifiers = [c for c in meta.get_all("Classifier") or [] if c.startswith("License ::")]
    if classifiers:
        return classifiers[0].rsplit(" :: ", 1)[-1]
    text = (meta.get("License") or "").strip()
    return text.splitlines()[0][:80] if text else "unknown"


@source.register("demo.distributions")
class Distributions(Source):
    """The Python distributions installed next to this code, with versions and licences."""

    def collect(self) -> dict[str, Any]:
        found: dict[str, dict[str, str]] = {}
        for dist in metadata.distributions():
            name = dist.metadata.get("Name")
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
    """One push item per installed distribution, for the recorder (``record`` sink)."""

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
