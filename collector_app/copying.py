"""Moved to ``collector_app.json_data`` (fast copies and checks of JSON-shaped data); this name
stays, as the very same module (old imports, ``mock.patch`` targets keep working)."""

import sys

from . import json_data as _module

sys.modules[__name__] = _module
