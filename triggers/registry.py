"""Moved to ``triggers.session_index`` (``SessionIndex``); this name stays for code using it.

The module object *is* ``triggers.session_index`` (aliased in ``sys.modules``), so imports and
``mock.patch`` targets under the old name reach the code that runs.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from . import session_index as _module

if TYPE_CHECKING:
    from .session_index import *  # noqa: F403

sys.modules[__name__] = _module
