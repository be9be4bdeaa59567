"""The ``COLLECTORS`` settings dict, read lazily so ``override_settings`` works."""

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Named pipelines: {"nightly": "path/to/nightly.toml" or a definition dict}. Each is also
    # a trigger task, "collector_app.pipeline:<name>", and can run as an RQ job.
    "PIPELINES": {},
    # Dotted modules imported before a pipeline is built, for their @source.register(...) etc.
    "COMPONENT_MODULES": [],
    # The file, next to a pipeline definition file, that holds its local components.
    "LOCAL_COMPONENTS_FILE": "flowconf.py",
    # RQ job timeout (seconds) of pipeline runs, scheduled or not; a run's "still going"
    # marker is trusted for this long at most.
    "JOB_TIMEOUT": 3600,
}


def collectors_setting(name: str) -> Any:
    configured = getattr(settings, "COLLECTORS", {}) or {}
    return configured[name] if name in configured else DEFAULTS[name]
