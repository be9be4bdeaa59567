"""pushcollector's name for ``collector_app.recording`` (see ``docs/recorders.md``).

Code written for pushcollector ports by changing its import::

    from collector_app.pushcollector import Collector

Every submodule (``collector_app.pushcollector.local``, ``.contract``, ...) is the very same
module as its ``collector_app.recording`` counterpart.
"""

from __future__ import annotations

from .. import recording as _recording
from ..recording import *  # noqa: F403 - the same public names

__all__ = list(_recording.__all__)
