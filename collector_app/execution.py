"""Moved to ``collector_app.timeouts`` (it holds the time limit of one component call); this
name stays, as the very same module (old imports, ``mock.patch`` targets keep working)."""

import sys

from . import timeouts as _module

sys.modules[__name__] = _module
