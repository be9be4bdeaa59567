"""The demo's gathering collection (``COLLECTORS["GATHERERS"]["demo"]``).

Each key is gathered over its own window, from its checkpoint to now, so a second ``make demo``
gathers only what is new: the commits made since the last run, and the distributions again
only when their full sync is due (daily).
"""

from __future__ import annotations

import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

from collector_app.gathering import CsvPartWriter, register

ROOT = Path(__file__).resolve().parent.parent


@register("config", "1.0", config=True, description="what gathered this")
def config(since, until, collection_type, **kwargs):
    return {
        "host": platform.node(),
        "python": sys.version.split()[0],
        "collection_type": collection_type,
    }


@register("commits", "1.0", format="json", description="commits made inside the window")
def commits(since, until, **kwargs):
    if not (ROOT / ".git").exists():
        return None
    out = subprocess.run(
        [
            "git",
            "log",
            f"--since={since.isoformat()}",
            f"--until={until.isoformat()}",
            "--format=%H%x09%aI%x09%s",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    rows = [
        dict(zip(("sha", "date", "subject"), line.split("\t", 2), strict=True))
        for line in out.splitlines()
    ]
    if not rows:
        return None  # nothing new: no file, so no tarball ships an empty list
    return {"since": since.isoformat(), "until": until.isoformat(), "commits": rows}


@register(
    "distributions",
    "1.0",
    format="csv",
    description="installed Python distributions",
    full_sync_interval_days=1,
)
def distributions(since, until, staging_dir, max_data_size, full_sync, **kwargs):
    if not full_sync:
        return None  # a full list once a day is enough
    header = ["name", "version", "licence"]
    with CsvPartWriter(staging_dir, "distributions", max_data_size, header) as out:
        seen = set()
        for dist in sorted(
            metadata.distributions(), key=lambda d: (d.metadata.get("Name") or "").lower()
        ):
            name = (dist.metadata.get("Name") or "").lower()
            if name and name not in seen:
                seen.add(name)
                out.writerow([name, dist.version, dist.metadata.get("License-Expression") or ""])
    return out.paths
