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
