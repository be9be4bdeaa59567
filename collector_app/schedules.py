"""Moved to ``collector_app.scheduling.schedules``; this name stays, as the very same module
(old imports, ``mock.patch`` targets and RQ jobs queued under the old name keep working)."""

import sys

from .scheduling import schedules as _module

sys.modules[__name__] = _module
