"""Moved to ``collector_app.recording.registry``; this name stays, as the very same module
(old imports, ``mock.patch`` targets keep working)."""

import sys

from ..recording import registry as _module

sys.modules[__name__] = _module
