"""Moved to ``collector_app.recording.db``; this name stays, as the very same module
(old imports, ``mock.patch`` targets keep working)."""

import sys

from ..recording import db as _module

sys.modules[__name__] = _module
