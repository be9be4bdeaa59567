"""The app's admin: importing this package registers every model admin.

``pipelines`` (run history and schedules), ``gathering`` (gather runs and checkpoints),
``recordings`` (the ``db`` recorder's runs, push items and files), ``state`` (collector state,
viewed and repaired) and ``tables`` (the small HTML tables they share).
"""

from . import gathering, pipelines, recordings, state

__all__ = ["gathering", "pipelines", "recordings", "state"]
