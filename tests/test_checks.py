"""System checks refuse trigger storage on caches that would lose updates."""

from __future__ import annotations

from django.conf import settings
from django.test import SimpleTestCase, override_settings

from triggers.checks import check_trigger_settings

LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}


def ids(messages):
    return [message.id for message in messages]


class TriggerChecks(SimpleTestCase):
    def test_project_settings_pass(self):
        self.assertEqual(check_trigger_settings(), [])

    @override_settings(CACHES={"default": LOCMEM})
    def test_locmem_is_refused(self):
        messages = check_trigger_settings()
        self.assertEqual(ids(messages), ["triggers.E001"])
        self.assertIn("locmem", messages[0].msg)

    @override_settings(CACHES={"default": LOCMEM}, TRIGGERS={"SINGLE_PROCESS": True})
    def test_locmem_allowed_when_single_process(self):
        self.assertEqual(check_trigger_settings(), [])

    @override_settings(
        CACHES={"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    )
    def test_dummy_is_refused(self):
        self.assertEqual(ids(check_trigger_settings()), ["triggers.E001"])

    @override_settings(
        CACHES={
            "default": {
                "BACKEND": "django.core.cache.backends.db.DatabaseCache",
                "LOCATION": "cache_table",
            }
        }
    )
    def test_unfenced_shared_cache_warns(self):
        self.assertEqual(ids(check_trigger_settings()), ["triggers.W001"])

    @override_settings(TRIGGERS={"CACHE_ALIAS": "missing"})
    def test_unknown_alias(self):
        self.assertEqual(ids(check_trigger_settings()), ["triggers.E004"])

    @override_settings(TRIGGERS={"DEFAULT_RUNER": "sync"})
    def test_unknown_setting_key(self):
        messages = check_trigger_settings()
        self.assertEqual(ids(messages), ["triggers.E002"])
        self.assertIn("DEFAULT_RUNER", messages[0].msg)

    @override_settings(TRIGGERS={"RQ_QUEUE": "nowhere"})
    def test_rq_queue_must_exist(self):
        messages = check_trigger_settings()
        self.assertEqual(ids(messages), ["triggers.E005"])
        self.assertIn("'nowhere'", messages[0].msg)

    def test_check_is_registered(self):
        from django.core import checks

        self.assertIn(check_trigger_settings, checks.registry.registry.get_checks())
        self.assertTrue(settings.CACHES)


class CollectorChecks(SimpleTestCase):
    def test_project_settings_pass(self):
        from collector_app.checks import check_collector_settings

        self.assertEqual(check_collector_settings(), [])

    def test_bad_collectors_settings_are_named(self):
        from collector_app.checks import check_collector_settings

        cases = [
            ({"ARTIFACT_ROOT": "/x"}, "collector_app.E001", "ARTIFACT_ROOT"),
            ([], "collector_app.E002", "must be a dict"),
            ({"STATE_LOCK": "maybe"}, "collector_app.E003", "'maybe'"),
            ({"PIPELINES": ["a.toml"]}, "collector_app.E004", "COLLECTORS['PIPELINES']"),
        ]
        for value, check_id, text in cases:
            with self.subTest(check_id), override_settings(COLLECTORS=value):
                messages = check_collector_settings()
                self.assertEqual(ids(messages), [check_id])
                self.assertIn(text, messages[0].msg)
