"""Moved to ``triggers.storages.cache_primitives`` (``CacheKV``, ``RedisKV``).

The module object *is* the new one (aliased in ``sys.modules``), so imports and
``mock.patch`` targets under this older name reach the code that runs.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from . import cache_primitives as _module

if TYPE_CHECKING:
    from .cache_primitives import *  # noqa: F403

sys.modules[__name__] = _module
