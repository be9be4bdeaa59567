"""Base for backends that store a session record by record (``cache``, ``db``)."""

from __future__ import annotations

from .base import BaseTriggerStorage


class RecordStorage(BaseTriggerStorage):
    """Provides the seed's whole-session methods on top of ``new_state`` and ``commit``.

    The manager never calls them on such a backend; they stay for code written against the
    seed's contract.
    """

    def _load_from_backend(self):
        state = self.snapshot()
        instances = {inst.name: inst for inst in state.all_instances()}
        return state.configs, instances, state.metadata

    def _save(self) -> None:
        with self.transaction() as state:
            state.set_configs(self._configs)
            state.metadata.clear()
            state.metadata.update(self._metas)
            state.touch_metadata()
            state.instances(self._instances)  # known before, so status counts stay right
            for instance in self._instances.values():
                state.install_instance(instance)
