"""Shared pieces of the test suite."""

from __future__ import annotations

import uuid

from triggers import TriggerManager


def new_uid(prefix: str = "test") -> str:
    return f"{prefix}-{uuid.uuid4().hex}"


class RecordingManager(TriggerManager):
    """Records the hooks it receives, in order."""

    def __init__(self, storage):
        super().__init__(storage)
        self.calls: list[tuple] = []

    def _post_fire(self, trigger_name, trigger_kwargs):
        self.calls.append(("fire", trigger_name))

    def _post_replay(self, task_instance):
        self.calls.append(("replay", task_instance.name))

    def _post_skip(self, task_instance, cascade):
        self.calls.append(("skip", task_instance.name, cascade))
