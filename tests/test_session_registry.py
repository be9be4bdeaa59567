"""Every session, whatever its backend, is listed in the session table with its counts."""

from __future__ import annotations

from io import StringIO

from django.core.management import call_command
from django.test import TestCase, override_settings

from tests.support.helpers import new_uid
from triggers import TriggerManager
from triggers.models import TriggerSession
from triggers.registry import flush_pending_counts, refresh_summary

CONFIG = {
    "ok": {"after": ["start"], "run": "tests.support.tasks.noop"},
    "bad": {"after": ["start"], "run": "tests.support.tasks.boom"},
    "later": {"after": ["start", "more"], "run": "tests.support.tasks.noop"},
}


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync"})
class Registry(TestCase):
    def check_counts(self, storage_name):
        uid = new_uid(storage_name)
        manager = TriggerManager.for_session(uid, storage_name)
        manager.update_configuration(CONFIG)
        manager.fire("start")
        flush_pending_counts()
        session = TriggerSession.objects.get(uid=uid)
        self.assertEqual(session.storage, storage_name)
        counts = {k: v for k, v in session.status_counts.items() if v}
        self.assertEqual(counts, {"finished": 1, "failed": 1, "unstarted": 1})
        self.assertEqual((session.unresolved_count, session.n_failed), (2, 1))
        manager.replay_failed_instance("bad#0")
        flush_pending_counts()
        session.refresh_from_db()
        counts = {k: v for k, v in session.status_counts.items() if v}
        self.assertEqual(counts, {"finished": 1, "failed": 1, "unstarted": 1, "replayed": 1})
        return session

    def test_cache_sessions_are_registered_with_counts(self):
        self.check_counts("cache")

    def test_db_sessions_keep_counts_in_the_same_transaction(self):
        self.check_counts("db")

    def test_refresh_summary_recounts_through_the_backend(self):
        session = self.check_counts("cache")
        TriggerSession.objects.filter(pk=session.pk).update(n_failed=40, n_finished=0)
        session.refresh_from_db()
        refresh_summary(session)
        session.refresh_from_db()
        self.assertEqual((session.n_failed, session.n_finished), (1, 1))


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync"})
class StagedCounts(TestCase):
    def test_cache_writes_stage_counts_in_redis_until_flushed(self):
        uid = new_uid("staged")
        manager = TriggerManager.for_session(uid)
        manager.update_configuration(CONFIG)
        manager.fire("start")
        session = TriggerSession.objects.get(uid=uid)
        self.assertEqual(session.unresolved_count, 0)  # staged, not yet in the table
        self.assertGreaterEqual(flush_pending_counts(), 1)
        session.refresh_from_db()
        self.assertEqual((session.unresolved_count, session.n_failed), (2, 1))
        self.assertEqual(flush_pending_counts(), 0)


class Migrations(TestCase):
    def test_models_and_migrations_agree(self):
        out = StringIO()
        call_command("makemigrations", "--check", "--dry-run", stdout=out)
        self.assertIn("No changes detected", out.getvalue())
