"""Moved to ``collector_app.pipelines.runner`` (``run_configured``, ``RunOutcome``), which also
names the configured collectors of ``collector_app.pipelines.configured``; this name stays, as
the very same module (old imports, ``mock.patch`` targets keep working)."""

import sys

from ..pipelines import runner as _module

sys.modules[__name__] = _module
