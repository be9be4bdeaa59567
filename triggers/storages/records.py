"""Moved to ``triggers.storages.record_storage`` (``RecordStorage``).

The module object *is* the new one (aliased in ``sys.modules``), so imports and
``mock.patch`` targets under this older name reach the code that runs.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from . import record_storage as _module

if TYPE_CHECKING:
    from .record_storage import *  # noqa: F403

sys.modules[__name__] = _module
