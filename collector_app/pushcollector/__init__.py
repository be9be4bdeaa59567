"""pushcollector's name for ``collector_app.recording`` (see ``docs/recorders.md``).

Code written for pushcollector ports by changing its import::

    from collector_app.pushcollector import Collector

Every submodule (``collector_app.pushcollector.local``, ``.contract``, ...) is the very same
module as its ``collector_app.recording`` counterpart.
"""

from __future__ import annotations

from ..recording import (
    PUSH_ITEMS_FILE,
    SCHEMA,
    STATES,
    Collector,
    PushItemBatch,
    PushItemError,
    RecorderBackend,
    Run,
    check_filename,
    check_item,
)

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
