"""A third-party style backend that implements only the seed's minimum contract."""

from __future__ import annotations

import json
import threading

from triggers.storages.base import BaseTriggerStorage
from triggers.storages.document import DocumentStorage

_documents: dict[str, str] = {}
_documents_lock = threading.Lock()


class DictStorage(BaseTriggerStorage):
    """Keeps each session as one JSON document in a process-global dict."""

    name = "dict"

    def _load_from_backend(self):
        with _documents_lock:
            raw = _documents.get(self.uid)
        return self._deserialize(json.loads(raw) if raw else None)

    def _save(self) -> None:
        with _documents_lock:
            _documents[self.uid] = json.dumps(self._serialize())


class JsonDocumentStorage(DocumentStorage):
    """The same through ``DocumentStorage``: only ``read_document`` and ``write_document``."""

    name = "json-document"

    def read_document(self):
        with _documents_lock:
            raw = _documents.get(f"doc:{self.uid}")
        return json.loads(raw) if raw else None

    def write_document(self, document):
        with _documents_lock:
            _documents[f"doc:{self.uid}"] = json.dumps(document)
