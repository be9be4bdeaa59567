"""Moved to ``triggers.rq.jobs``; this name stays for code, settings and queued jobs that use it.

The module object *is* ``triggers.rq.jobs`` (aliased in ``sys.modules``), so imports, attribute
lookups and ``mock.patch`` targets under the old name all reach the code that runs.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING

from .rq import jobs as _module

if TYPE_CHECKING:
    from .rq.jobs import *  # noqa: F403

sys.modules[__name__] = _module
