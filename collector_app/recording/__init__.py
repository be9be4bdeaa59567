"""Recorders: push items and files recorded per run, with pushcollector's API
(see ``docs/recorders.md``). ``collector_app.pushcollector`` is the compatibility name.

Code written for pushcollector ports by changing its import::

    from collector_app.pushcollector import Collector

    with Collector.get() as collector:  # COLLECTORS["RECORDER"], "local" by default
        collector.update_push_items([{"filename": "a.rpm", "state": "PUSHED"}]).result()
        collector.attach_file("report.txt", b"...").result()
"""

from __future__ import annotations

from .base import PUSH_ITEMS_FILE, RecorderBackend, check_filename
from .batch import PushItemBatch
from .collector import Collector
from .runs import Run
from .validation import SCHEMA, STATES, PushItemError, check_item

__all__ = [
    "PUSH_ITEMS_FILE",
    "SCHEMA",
    "STATES",
    "Collector",
    "PushItemBatch",
    "PushItemError",
    "RecorderBackend",
    "Run",
    "check_filename",
    "check_item",
]
