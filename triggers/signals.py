"""Signals other apps connect to, so that ``triggers`` never imports them.

``recovery_pass``: sent once per recovery pass (``triggers.recovery.recover``: the workers'
periodic pass and ``manage.py triggers_recover``), after the trigger instances were repaired,
with ``now`` (an aware ``datetime``). A receiver repairs what its own app's crashed processes
left behind and returns a list of one line per repair (or nothing); an exception it raises is
reported as an error of the pass, never stops it. ``collector_app`` connects one in its
``AppConfig.ready()``, which fails pipeline and gather runs whose process was lost.
"""

from __future__ import annotations

from django.dispatch import Signal

recovery_pass = Signal()
