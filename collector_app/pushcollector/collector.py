"""Moved to ``collector_app.recording.collector``; this name stays, as the very same module
(old imports, ``mock.patch`` targets keep working)."""

import sys

from ..recording import collector as _module

sys.modules[__name__] = _module
