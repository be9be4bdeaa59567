"""``SessionIndex``: one session's row in the session table, and its per-status counts."""

from __future__ import annotations

import importlib

from django.test import TestCase, override_settings

from tests.support.backends import JsonDocumentStorage
from tests.support.helpers import new_uid
from triggers import TriggerManager
from triggers.models import TriggerSession
from triggers.session_index import SessionIndex


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync"})
class SessionIndexTests(TestCase):
    def test_register_add_and_recount(self):
        index = SessionIndex(new_uid("index"), "cache")
        session = index.register()
        self.assertEqual((session.storage, session.n_unstarted), ("cache", 0))
        index.add({"unstarted": 2, "failed": 1})
        index.add({"unstarted": -1, "scheduled": 1})
        session.refresh_from_db()
        self.assertEqual(
            {k: v for k, v in session.status_counts.items() if v},
            {"unstarted": 1, "scheduled": 1, "failed": 1},
        )
        SessionIndex.recount(session, instances=[])
        session.refresh_from_db()
        self.assertEqual(sum(session.status_counts.values()), 0)
        self.assertEqual(SessionIndex.field("failed"), "n_failed")

    def test_a_document_backend_session_is_indexed_with_its_counts(self):
        uid = new_uid("index-doc")
        manager = TriggerManager(JsonDocumentStorage(uid))
        manager.update_configuration({"ok": {"after": ["go"], "run": "tests.support.tasks.noop"}})
        manager.fire("go")
        session = TriggerSession.objects.get(uid=uid)
        self.assertEqual(session.storage, "json-document")
        self.assertEqual({k: v for k, v in session.status_counts.items() if v}, {"finished": 1})

    def test_the_old_module_name_is_the_same_module(self):
        registry = importlib.import_module("triggers.registry")
        self.assertIs(registry, importlib.import_module("triggers.session_index"))
        self.assertIs(registry.flush_pending_counts, SessionIndex.flush_pending)
        self.assertIs(registry.refresh_summary, SessionIndex.recount)
