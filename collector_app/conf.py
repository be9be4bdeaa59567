"""The ``COLLECTORS`` settings dict, read lazily so ``override_settings`` works."""

from __future__ import annotations

from typing import Any

from django.conf import settings

DEFAULTS: dict[str, Any] = {
    # Named pipelines: {"nightly": "path/to/nightly.toml" or a definition dict}. Each is also
    # a trigger task, "pipeline:<name>", and can run as an RQ job.
    "PIPELINES": {},
    # Dotted modules imported before a pipeline is built, for their @source.register(...) etc.
    "COMPONENT_MODULES": [],
    # The file, next to a pipeline definition file, that holds its local components.
    "LOCAL_COMPONENTS_FILE": "flowconf.py",
    # RQ job timeout (seconds) of pipeline runs, scheduled or not; a run's "still going"
    # marker is trusted for this long at most.
    "JOB_TIMEOUT": 3600,
    # -- state (collector_app.state) --
    # The state store: "db", "file" or a name from the collector_app.state_stores entry points.
    "STATE_STORE": "db",
    # Where the "file" store keeps its JSON files (required by that store).
    "STATE_DIR": None,
    # A second run of a collector whose state is in use: "wait" (up to STATE_LOCK_TIMEOUT
    # seconds) or "refuse".
    "STATE_LOCK": "wait",
    "STATE_LOCK_TIMEOUT": 300,
    # -- recording push items and files (collector_app.pushcollector) --
    # The default recorder backend: "local", "dummy", "db" or an entry-point name.
    "RECORDER": "local",
    # Root folder of the "local" recorder's run folders (required by that backend).
    "ARTIFACTS_ROOT": None,
    # -- gathering and shipping (collector_app.gathering) --
    # Gathering collections: name -> dotted path of a Gatherer subclass (or a dict of its
    # settings); see docs/gathering.md.
    "GATHERERS": {},
    # -- class collectors (collector_app.pipelines; docs/state.md) --
    # name -> {"class": "dotted.path.Collector", "config": {...}}: run once with
    # `manage.py run_collector <name>`, the way n6 collectors run from cron.
    "CLASS_COLLECTORS": {},
}


def collectors_setting(name: str) -> Any:
    configured = getattr(settings, "COLLECTORS", {}) or {}
    return configured[name] if name in configured else DEFAULTS[name]
