"""Moved to ``collector_app.leases`` (the collector lock is not collector memory); this name
stays, as the very same module (old imports, ``mock.patch`` targets keep working)."""

import sys

from .. import leases as _module

sys.modules[__name__] = _module
