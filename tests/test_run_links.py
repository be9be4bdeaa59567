"""Gather runs and recordings made by a trigger task name the session and instance that made
them, and the admin links them to it (as pipeline runs already did)."""

from __future__ import annotations

from django.contrib.auth.models import User
from django.test import override_settings
from django.urls import reverse

from collector_app.gathering import gather
from collector_app.models import GatherRun, RecordingRun
from tests.support import gathering_collection
from tests.support.helpers import SessionTestCase, new_uid
from tests.test_gathering_runners import GatheringTestCase
from triggers import TriggerManager
from triggers.execution import current_task
from triggers.models import TriggerSession
from triggers.testing import TriggerTestMixin


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync"})
class RecordingsNameTheirTask(TriggerTestMixin, SessionTestCase):
    def test_a_recording_made_by_a_task_links_to_its_instance(self):
        uid = new_uid("links")
        self.manager = TriggerManager.for_session(uid)
        self.manager.update_configuration(
            {"record": {"after": ["start"], "run": "tests.support.tasks.record_push_items"}}
        )
        self.manager.fire("start")
        self.assertInstanceFinished("record#0")
        run = RecordingRun.objects.get(session_uid=uid)
        self.assertEqual((run.instance, run.push_items.count()), ("record#0", 2))
        self.assertIsNone(current_task())  # only set while the task runs

        self.client.force_login(User.objects.create_superuser("root", password="pw"))
        page = self.client.get(reverse("admin:collector_app_recordingrun_changelist"))
        session = TriggerSession.objects.get(uid=uid)
        instance_url = reverse(
            "admin:triggers_triggersession_instance", args=[session.pk, "record#0"]
        )
        self.assertContains(page, f'href="{instance_url}"')


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync"})
class GatherRunsNameTheirTask(TriggerTestMixin, GatheringTestCase):
    def test_a_gather_made_by_a_task_links_to_its_instance(self):
        uid = new_uid("gather-links")
        self.manager = TriggerManager.for_session(uid)
        self.manager.update_configuration(
            {
                "gather": {
                    "after": ["start"],
                    "run": "collector_app.gather:analytics",
                    "withParams": {"until": self.until.isoformat()},
                }
            }
        )
        self.manager.fire("start")
        self.assertInstanceFinished("gather#0")
        run = GatherRun.objects.get(session_uid=uid)
        self.assertEqual(run.instance, "gather#0")

        gathering_collection.reset()
        direct = gather("analytics", keys=["hosts"], until=self.until)  # not a task: no link
        self.assertEqual(GatherRun.objects.get(pk=direct.run_id).session_uid, "")

        self.client.force_login(User.objects.create_superuser("root", password="pw"))
        page = self.client.get(reverse("admin:collector_app_gatherrun_change", args=[run.pk]))
        session = TriggerSession.objects.get(uid=uid)
        instance_url = reverse(
            "admin:triggers_triggersession_instance", args=[session.pk, "gather#0"]
        )
        self.assertContains(page, f'href="{instance_url}"')


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync"})
class SessionsAreSearchableOnEveryBackend(SessionTestCase):
    def test_search_by_task_name_and_error_text(self):
        for storage in ("cache", "db"):
            with self.subTest(storage=storage):
                uid = new_uid(f"search-{storage}")
                manager = TriggerManager.for_session(uid, storage)
                manager.update_configuration(
                    {
                        "load_inventory_of_dc7": {
                            "after": ["start"],
                            "run": "tests.support.tasks.fail_unless_ok",
                        }
                    }
                )
                manager.fire("start", {"ok": False})
                self.client.force_login(
                    User.objects.get_or_create(username="root", is_staff=True, is_superuser=True)[0]
                )
                url = reverse("admin:triggers_triggersession_changelist")
                for term in ("inventory_of_dc7", "not ok yet", "RuntimeError"):
                    page = self.client.get(url, {"q": term})
                    self.assertContains(page, uid, msg_prefix=f"search {term!r}")
                self.assertNotContains(self.client.get(url, {"q": "no such words"}), uid)
