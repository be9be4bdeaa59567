"""``DocumentStorage``: the helper base for backends that keep a session as one document.

Such a backend implements two public methods, ``read_document()`` and
``write_document(document)``, on JSON-compatible data; this base builds the seed's
whole-session pair (``_load_from_backend`` / ``_save``) on them, and ``BaseTriggerStorage``
builds every operation on that pair. A backend written against the seed, which implements
the pair itself, keeps working unchanged: it is the same path one step further in.
"""

from __future__ import annotations

from typing import Any

from ..types import TaskConfig, TaskInstance
from .base import BaseTriggerStorage


class DocumentStorage(BaseTriggerStorage):
    """A session as one JSON document: ``{"tasks": ..., "instances": ..., "metadata": ...}``.

    Every operation reads and rewrites the whole document under the session's lock, which is
    process-local unless the backend overrides ``take_lock`` / ``release_lock`` (see
    docs/storages.md): simple, and right for small sessions or one process.
    """

    def read_document(self) -> dict[str, Any] | None:
        """The stored document of session ``self.uid``, or ``None`` if nothing is stored."""
        raise NotImplementedError(f"{type(self).__name__} must implement read_document()")

    def write_document(self, document: dict[str, Any]) -> None:
        """Replace the stored document of session ``self.uid`` with ``document``."""
        raise NotImplementedError(f"{type(self).__name__} must implement write_document()")

    # -- the seed's pair, on the two methods above ---------------------------------------------
    def _load_from_backend(
        self,
    ) -> tuple[dict[str, TaskConfig], dict[str, TaskInstance], dict[str, Any]]:
        return self._deserialize(self.read_document())

    def _save(self) -> None:
        self.write_document(self._serialize())
