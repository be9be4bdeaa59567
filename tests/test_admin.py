"""The admin through Django's test client: list, session page, actions, permissions."""

from __future__ import annotations

from unittest import mock

from django.contrib.auth.models import Permission, User
from django.test import TestCase, override_settings
from django.urls import reverse

from tests.support.helpers import SessionTestCase, new_uid
from triggers import TriggerManager
from triggers.models import TriggerSession

T = "tests.support.tasks."
CONFIG = {
    "load": {"after": ["start"], "run": "tests.support.tasks.fail_unless_ok"},
    "report": {"after": ["load"], "run": "tests.support.tasks.warn"},
}


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync"})
class AdminTests(TestCase):
    storage = "cache"

    def setUp(self):
        self.uid = new_uid("admin")
        self.manager = TriggerManager.for_session(self.uid, self.storage)
        self.manager.update_configuration(CONFIG)
        self.manager.fire("start", {"ok": False})
        self.session = TriggerSession.objects.get(uid=self.uid)
        self.page = reverse("admin:triggers_triggersession_change", args=[self.session.pk])
        self.viewer = self.user("viewer", "view_triggersession")
        self.actor = self.user("actor", "view_triggersession", "act_on_triggersession")
        self.nobody = self.user("nobody")

    def user(self, name, *codenames):
        user = User.objects.create_user(name, is_staff=True)  # force_login needs no password
        user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
        return user

    def action(self, name):
        return reverse("admin:triggers_triggersession_action", args=[self.session.pk, name])

    def status(self, name):
        return self.manager.storage[name].status

    def test_list_shows_counts_filters_and_search(self):
        self.client.force_login(self.viewer)
        url = reverse("admin:triggers_triggersession_changelist")
        response = self.client.get(url, {"failed": "yes", "q": self.uid})
        self.assertContains(response, self.uid)
        self.assertContains(response, "has unresolved instances")
        row = response.context["cl"].result_list.get(uid=self.uid)
        self.assertEqual((row.unresolved, row.n_failed), (1, 1))
        self.assertNotContains(
            self.client.get(url, {"failed": "no", "q": self.uid}), self.uid + "<"
        )

    def test_session_page_shows_graph_instances_and_logs(self):
        self.client.force_login(self.viewer)
        response = self.client.get(self.page)
        self.assertContains(response, "<svg")
        self.assertContains(response, 'data-node="load"')
        self.assertContains(response, 'data-instance="load#0" data-status="failed"')
        self.assertContains(response, "RuntimeError")
        self.assertNotContains(response, 'id="action-replay"')  # viewing is not acting

    def test_without_permissions_everything_is_forbidden(self):
        self.client.force_login(self.nobody)
        self.assertEqual(self.client.get(self.page).status_code, 403)
        changelist = reverse("admin:triggers_triggersession_changelist")
        self.assertEqual(self.client.get(changelist).status_code, 403)
        self.assertEqual(self.client.get(self.action("replay")).status_code, 403)

    def test_viewers_cannot_act(self):
        self.client.force_login(self.viewer)
        for name in ("replay", "skip", "resolve", "fire"):
            self.assertEqual(self.client.get(self.action(name)).status_code, 403)
            response = self.client.post(self.action(name), {"instances": ["load#0"]})
            self.assertEqual(response.status_code, 403)
        self.assertEqual(self.status("load#0"), "failed")

    def test_replay_asks_for_confirmation_then_replays_with_kwargs(self):
        self.client.force_login(self.actor)
        confirm = self.client.get(self.action("replay"))
        self.assertContains(confirm, "Please confirm")
        self.assertContains(confirm, 'value="load#0"')
        self.assertEqual(self.status("load#0"), "failed")
        response = self.client.post(
            self.action("replay"), {"instances": ["load#0"], "kwargs": '{"start": {"ok": true}}'}
        )
        self.assertRedirects(response, self.page)
        self.assertEqual(self.status("load#0"), "replayed")
        self.assertEqual(self.status("load#1"), "finished")
        self.assertEqual(self.status("report#0"), "finished")

    def test_bad_json_or_unknown_trigger_is_shown_and_nothing_changes(self):
        self.client.force_login(self.actor)
        response = self.client.post(
            self.action("replay"), {"instances": ["load#0"], "kwargs": "{x"}
        )
        self.assertContains(response, "not valid JSON")
        response = self.client.post(
            self.action("replay"), {"instances": ["load#0"], "kwargs": '{"start": 5}'}
        )
        self.assertContains(response, "the kwargs of trigger &#x27;start&#x27; must be a JSON")
        self.assertEqual(self.status("load#0"), "failed")
        self.assertNotIn("load#1", self.manager.storage)

    def test_skip_with_cascade_and_result(self):
        self.client.force_login(self.actor)
        self.client.post(
            self.action("skip"),
            {"instances": ["load#0"], "cascade": "on", "result": '{"rows": 0}'},
        )
        self.assertEqual(self.status("load#0"), "skipped")
        self.assertEqual(self.status("report#0"), "finished")

    def test_resolve_logs_and_fire(self):
        self.client.force_login(self.actor)
        self.assertContains(self.client.get(self.action("resolve")), 'value="load#0"')
        self.client.post(self.action("resolve"), {"instances": ["load#0"]})
        self.assertEqual(self.manager.storage.get_instances_with_unresolved_logs(), [])
        response = self.client.post(self.action("fire"), {"trigger": "extra", "kwargs": '{"a": 1}'})
        self.assertRedirects(response, self.page)
        self.assertEqual(self.manager.storage.latest_kwargs["extra"], {"a": 1})
        response = self.client.post(self.action("fire"), {"trigger": "x", "kwargs": "[1]"})
        self.assertContains(response, "must be a JSON object")

    def test_abort_asks_for_confirmation_then_fails_the_stuck_instance(self):
        self.manager.replay_failed_instance("load#0", {"start": {"ok": True}})  # report#0 runs
        self.manager.update_configuration(
            {"stuck": {"after": ["go"], "run": "tests.support.tasks.noop"}}
        )
        # Stuck as if its job were lost: scheduled, and no runner will ever pick it up.
        inst = self.manager.storage.create_instance("stuck", kwargs={"go": {}})
        self.manager.update_instance_status(inst.name, "scheduled")
        self.client.force_login(self.viewer)
        self.assertEqual(self.client.get(self.action("abort")).status_code, 403)
        self.client.force_login(self.actor)
        confirm = self.client.get(self.action("abort"))
        self.assertContains(confirm, "Please confirm")
        self.assertContains(confirm, 'value="stuck#0"')
        self.assertNotContains(confirm, 'value="load#1"')  # finished: nothing to abort
        self.assertEqual(self.status("stuck#0"), "scheduled")
        response = self.client.post(
            self.action("abort"), {"instances": ["stuck#0"], "reason": "worker hung"}
        )
        self.assertRedirects(response, self.page)
        aborted = self.manager.storage["stuck#0"]
        self.assertEqual((aborted.status, aborted.metadata["exc_type"]), ("failed", "Aborted"))
        self.assertIn("worker hung", aborted.metadata["exc_message"])

    def test_no_add_change_or_delete(self):
        superuser = User.objects.create_superuser("root", password="pw")
        self.client.force_login(superuser)
        self.assertEqual(
            self.client.get(reverse("admin:triggers_triggersession_add")).status_code, 403
        )
        self.assertEqual(self.client.post(self.page, {"uid": "x"}).status_code, 200)
        self.assertTrue(TriggerSession.objects.filter(uid=self.uid).exists())

    def test_a_bad_session_id_or_unknown_action_is_a_404(self):
        self.client.force_login(self.actor)
        for object_id in ("abc", "999999"):
            with self.subTest(object_id=object_id):
                page = reverse("admin:triggers_triggersession_change", args=[object_id])
                self.assertEqual(self.client.get(page).status_code, 404)
                action = reverse("admin:triggers_triggersession_action", args=[object_id, "fire"])
                self.assertEqual(self.client.get(action).status_code, 404)
        self.assertEqual(self.client.get(self.action("explode")).status_code, 404)
        self.assertEqual(self.client.post(self.action("explode")).status_code, 404)

    def test_the_page_of_a_1200_task_chain(self):
        # t1199 runs first and t0000 last: in name order, each task comes before its parent.
        chain = {
            f"t{i:04}": {"after": [f"t{i + 1:04}" if i < 1199 else "start"], "run": T + "noop"}
            for i in range(1200)
        }
        self.manager.update_configuration(chain)
        self.client.force_login(self.viewer)
        response = self.client.get(self.page)
        self.assertContains(response, 'data-node="t0000"')

    def test_firing_a_trigger_no_task_uses_warns(self):
        self.client.force_login(self.actor)
        response = self.client.post(self.action("fire"), {"trigger": "strat"}, follow=True)
        self.assertRedirects(response, self.page)
        shown = [(m.level_tag, str(m)) for m in response.context["messages"]]
        self.assertIn("warning", [tag for tag, _ in shown])
        self.assertTrue(any("uses trigger 'strat'" in text for _, text in shown), shown)
        self.assertEqual(self.manager.storage.latest_kwargs["strat"], {})

    def test_kwargs_nested_too_deep_are_a_form_error(self):
        self.client.force_login(self.actor)
        deep = '{"a": ' * 10_000 + "1" + "}" * 10_000
        response = self.client.post(self.action("fire"), {"trigger": "start", "kwargs": deep})
        self.assertContains(response, "nested too deeply")
        self.assertNotIn("a", self.manager.storage.latest_kwargs["start"])


class DatabaseBackendAdminTests(AdminTests):
    storage = "db"


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "rq"})
class RedisDropInTheAdmin(SessionTestCase):
    """Outside a test transaction, so the RQ runner enqueues at once, as in a real request."""

    def test_redis_dropping_mid_fire_says_the_fire_was_recorded(self):
        from redis.exceptions import ConnectionError as RedisConnectionError

        from triggers.runners.rq_runner import RQRunner
        from triggers.watch import control_connection, unwatch

        actor = User.objects.create_superuser("root-redis", password="pw")
        self.client.force_login(actor)
        refused = RedisConnectionError("Connection refused")
        for storage in ("cache", "db"):
            uid = new_uid(f"admin-redis-{storage}")
            manager = TriggerManager.for_session(uid, storage)
            manager.update_configuration(
                {"late": {"after": ["go"], "run": "tests.support.tasks.noop"}}
            )
            session = TriggerSession.objects.get(uid=uid)
            page = reverse("admin:triggers_triggersession_change", args=[session.pk])
            fire = reverse("admin:triggers_triggersession_action", args=[session.pk, "fire"])
            with self.subTest(storage=storage):
                with mock.patch.object(RQRunner, "enqueue", side_effect=refused):
                    response = self.client.post(fire, {"trigger": "go"}, follow=True)
                self.assertRedirects(response, page)
                shown = [(m.level_tag, str(m)) for m in response.context["messages"]]
                self.assertEqual(len(shown), 1, shown)
                self.assertEqual(shown[0][0], "warning")
                self.assertIn("'go' was recorded", shown[0][1])
                self.assertIn("triggers_recover", shown[0][1])
                self.assertEqual(manager.storage["late#0"].status, "scheduled")
            unwatch(control_connection(), storage, uid, "late#0")
