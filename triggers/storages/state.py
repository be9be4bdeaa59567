"""Moved to ``triggers.storages.working_set`` (``SessionState``, ``Changes``).

The module object *is* the new one (aliased in ``sys.modules``), so imports and
``mock.patch`` targets under this older name reach the code that runs.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from . import working_set as _module

if TYPE_CHECKING:
    from .working_set import *  # noqa: F403

sys.modules[__name__] = _module
