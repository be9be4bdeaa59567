"""Moved to ``collector_app.scheduling.slots``; this name stays, as the very same module
(old imports, ``mock.patch`` targets keep working)."""

import sys

from .scheduling import slots as _module

sys.modules[__name__] = _module
