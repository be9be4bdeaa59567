"""The admin as an operator console (issue 14), through Django's test client and the commands.

Permissions of the JSON endpoints and of every action, the instance page, downloads, the audit
trail, the graph, the list, pagination, the queues panel, ``triggers_status`` and ``triggers_list``.
"""

from __future__ import annotations

import json
from io import StringIO

from django.contrib.admin.models import LogEntry
from django.contrib.auth.models import Permission, User
from django.core.management import call_command
from django.test import TestCase, override_settings
from django.urls import reverse
from django.utils.timezone import now

from tests.support.helpers import new_uid
from triggers import TriggerManager
from triggers.admin_forms import check_kept_kwargs
from triggers.graph import render_svg
from triggers.models import TriggerSession
from triggers.types import TaskConfig, TaskInstance

CONFIG = {
    "load": {"after": ["start"], "run": "tests.support.tasks.fail_unless_ok"},
    "report": {"after": ["load"], "run": "tests.support.tasks.warn"},
}
ACTIONS = ("replay", "skip", "resolve", "abort", "fire")


def run(*args: str, **options) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO(), **options)
    return out.getvalue()


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync"})
class ConsoleTests(TestCase):
    storage = "cache"

    def setUp(self):
        self.uid = new_uid("console")
        self.manager = TriggerManager.for_session(self.uid, self.storage)
        self.manager.update_configuration(CONFIG)
        self.manager.fire("start", {"ok": False})
        self.session = TriggerSession.objects.get(uid=self.uid)
        self.page = reverse("admin:triggers_triggersession_change", args=[self.session.pk])
        self.viewer = self.user("viewer", "view_triggersession")
        self.actor = self.user("actor", "view_triggersession", "act_on_triggersession")
        self.nobody = self.user("nobody")

    def user(self, name, *codenames):
        user = User.objects.create_user(name, is_staff=True)
        user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
        return user

    def url(self, name, *args):
        return reverse(f"admin:triggers_triggersession_{name}", args=[self.session.pk, *args])

    def test_live_endpoint_needs_the_view_permission_and_sends_statuses(self):
        live = self.url("live")
        self.assertEqual(self.client.get(live).status_code, 302)  # anonymous: to the login
        self.client.force_login(self.nobody)
        self.assertEqual(self.client.get(live).status_code, 403)
        self.client.force_login(self.viewer)
        data = self.client.get(live).json()
        self.assertEqual(data["instances"][0]["name"], "load#0")
        self.assertEqual(data["instances"][0]["status"], "failed")
        self.assertEqual(data["instances"][0]["error"], "RuntimeError: not ok yet")
        self.assertEqual((data["counts"]["failed"], data["resolved"]), (1, False))
        self.assertEqual(data["tasks"], {"load": {"failed": 1}})
        list_live = reverse("admin:triggers_triggersession_list_live")
        self.assertEqual(
            self.client.get(list_live, {"ids": str(self.session.pk)}).json()["sessions"][
                str(self.session.pk)
            ]["counts"]["failed"],
            1,
        )
        self.client.force_login(self.nobody)
        self.assertEqual(self.client.get(list_live).status_code, 403)

    def test_every_action_is_forbidden_to_viewers_and_unknown_ones_are_404(self):
        self.client.force_login(self.viewer)
        for action in ACTIONS:
            with self.subTest(action=action):
                url = self.url("action", action)
                self.assertEqual(self.client.get(url).status_code, 403)
                response = self.client.post(url, {"instances": ["load#0"], "trigger": "x"})
                self.assertEqual(response.status_code, 403)
        self.assertEqual(self.manager.storage["load#0"].status, "failed")
        self.assertFalse(LogEntry.objects.exists())
        self.client.force_login(self.actor)
        self.assertEqual(self.client.get(self.url("action", "explode")).status_code, 404)
        bad = reverse("admin:triggers_triggersession_change", args=["abc"])
        self.assertEqual(self.client.get(bad).status_code, 404)

    def test_instance_page_shows_the_traceback_and_actions_only_to_actors(self):
        url = self.url("instance", "load#0")
        self.client.force_login(self.nobody)
        self.assertEqual(self.client.get(url).status_code, 403)
        self.client.force_login(self.viewer)
        response = self.client.get(url)
        self.assertContains(response, "Traceback (most recent call last)")
        self.assertContains(response, "not ok yet")
        self.assertContains(response, 'id="status-history"')
        self.assertNotContains(response, 'id="replay-form"')
        self.assertEqual(self.client.get(self.url("instance", "load#9")).status_code, 404)
        self.client.force_login(self.actor)
        response = self.client.get(url)
        self.assertContains(response, 'id="replay-form"')
        self.assertContains(response, "&quot;ok&quot;: false")  # kwargs prefilled

    def test_replay_from_the_instance_page_is_audited_and_returns_there(self):
        self.client.force_login(self.actor)
        here = self.url("instance", "load#0")
        response = self.client.post(
            self.url("action", "replay"),
            {"instances": "load#0", "kwargs": '{"start": {"ok": true}}', "next": here},
        )
        self.assertRedirects(response, here)
        self.assertEqual(self.manager.storage["load#1"].status, "finished")
        entry = LogEntry.objects.get()
        self.assertEqual(entry.user, self.actor)
        self.assertEqual(entry.object_id, str(self.session.pk))
        self.assertEqual(entry.change_message, "replay load#0: kwargs replaced")
        page = self.client.get(self.page)
        self.assertContains(page, "replay load#0: kwargs replaced")
        lineage = self.client.get(here)
        self.assertContains(lineage, self.url("instance", "load#1"))

    def test_replay_kwargs_are_one_object_per_trigger(self):
        self.client.force_login(self.actor)
        response = self.client.post(
            self.url("action", "replay"), {"instances": "load#0", "kwargs": '{"inventory": 5}'}
        )
        self.assertContains(response, "the kwargs of trigger &#x27;inventory&#x27;")
        self.assertNotIn("load#1", self.manager.storage)
        bad = TaskInstance("t#0", "t", "failed", kwargs={"inventory": 5, "start": {}})
        with self.assertRaisesMessage(ValueError, "trigger(s) 'inventory'"):
            check_kept_kwargs(bad)

    def test_buttons_only_when_they_apply_and_downloads(self):
        self.client.force_login(self.actor)
        response = self.client.get(self.page)
        self.assertContains(response, 'id="action-replay"')
        self.assertNotContains(response, 'id="action-abort"')  # nothing in flight
        self.manager.skip_failed_instance("load#0")
        response = self.client.get(self.page)
        self.assertNotContains(response, 'id="action-replay"')
        self.assertNotContains(response, 'id="action-skip"')
        self.assertContains(response, 'id="action-fire"')
        download = self.client.get(self.url("download", "load#0", "kwargs"))
        self.assertEqual(download["Content-Type"], "application/json")
        self.assertIn("attachment", download["Content-Disposition"])
        self.assertEqual(json.loads(download.content), {"start": {"ok": False}})
        self.assertEqual(self.client.get(self.url("download", "load#0", "x")).status_code, 404)
        self.client.force_login(self.nobody)
        self.assertEqual(self.client.get(self.url("download", "load#0", "kwargs")).status_code, 403)

    def test_the_list_has_badges_relative_times_and_a_first_failure_link(self):
        self.client.force_login(self.viewer)
        url = reverse("admin:triggers_triggersession_changelist")
        response = self.client.get(url, {"q": self.uid, "sort": "failed"})
        self.assertContains(response, '<span class="tg-badge tg-failed">1 failed</span>')
        self.assertContains(response, ' UTC">')  # the exact time on hover
        first = self.url("first_failure")
        self.assertContains(response, first)
        self.assertRedirects(
            self.client.get(first), self.url("instance", "load#0") + "#error",
            fetch_redirect_response=False,
        )  # fmt: skip


class DatabaseConsoleTests(ConsoleTests):
    storage = "db"

    def test_search_by_task_name_and_error_text(self):
        self.client.force_login(self.viewer)
        url = reverse("admin:triggers_triggersession_changelist")
        self.assertContains(self.client.get(url, {"q": "not ok yet"}), self.uid)
        self.assertContains(self.client.get(url, {"q": "report"}), self.uid)
        self.assertNotContains(self.client.get(url, {"q": "no-such-thing"}), self.uid)


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync"})
class PagesAndGraphTests(TestCase):
    def test_session_page_shows_100_instances_a_page_failed_first(self):
        uid = new_uid("many")
        manager = TriggerManager.for_session(uid)
        manager.update_configuration(
            {
                "each": {"after": [], "andEvery": "tick", "run": "tests.support.tasks.noop"},
                "bad": {"after": ["tick"], "run": "tests.support.tasks.boom"},
            }
        )
        for _ in range(120):
            manager.fire("tick", {})
        session = TriggerSession.objects.get(uid=uid)
        self.client.force_login(User.objects.create_superuser("root", password="pw"))
        page = reverse("admin:triggers_triggersession_change", args=[session.pk])
        response = self.client.get(page)
        rows = response.context["rows"]
        self.assertEqual((len(rows), rows[0]["name"], rows[0]["status"]), (100, "bad#0", "failed"))
        self.assertContains(response, "page 1 of 2")
        self.assertEqual(len(self.client.get(page, {"page": 2}).context["rows"]), 21)
        live = self.client.get(reverse("admin:triggers_triggersession_live", args=[session.pk]))
        self.assertEqual(len(live.json()["instances"]), 100)
        by_task = self.client.get(page, {"task": "bad"}).context["rows"]
        self.assertEqual([row["name"] for row in by_task], ["bad#0"])

    def test_graph_counts_each_status_apart_with_tooltips_links_and_unless_edges(self):
        name = "a_task_with_a_name_longer_than_the_box"
        configs = {
            name: TaskConfig(name, ["start"], "x", unless=["cancel"]),
        }
        instances = [
            TaskInstance(f"{name}#0", name, "replayed"),
            TaskInstance(f"{name}#1", name, "replayed"),
            TaskInstance(f"{name}#2", name, "failed"),
        ]
        svg = render_svg(configs, instances, {name: "/tasks/x"})
        self.assertIn("1 failed · 2 replayed", svg)
        self.assertIn(f"<title>{name}: 1 failed · 2 replayed</title>", svg)
        self.assertIn('<a href="/tasks/x">', svg)
        self.assertIn('class="tg-edge tg-edge-unless"', svg)
        self.assertIn('data-node="cancel"', svg)
        self.assertNotIn('fill="#', svg)  # colours come from the stylesheet (dark mode)


class QueuesPanelTests(TestCase):
    def test_an_action_on_a_session_without_a_live_worker_says_so(self):
        from tests.support.rq_helpers import reset_queues

        reset_queues()
        uid = new_uid("idle")
        manager = TriggerManager.for_session(uid)
        manager.update_configuration(
            {"load": {"after": ["start"], "run": "tests.support.tasks.echo"}}
        )
        session = TriggerSession.objects.get(uid=uid)
        self.client.force_login(User.objects.create_superuser("root", password="pw"))
        url = reverse("admin:triggers_triggersession_action", args=[session.pk, "fire"])
        response = self.client.post(url, {"trigger": "start", "kwargs": "{}"}, follow=True)
        self.assertEqual(manager.storage["load#0"].status, "scheduled")
        self.assertContains(response, "No live worker listens on queue default")
        self.assertContains(response, 'id="queues-panel"')
        self.assertContains(response, 'class="tg-no-worker"')
        reset_queues()


class CommandTests(TestCase):
    @override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync"})
    def test_status_shows_errors_and_tracebacks_and_list_counts(self):
        uid = new_uid("cmd")
        long_task = "load_every_inventory_of_every_datacentre_in_the_fleet"
        manager = TriggerManager.for_session(uid)
        manager.update_configuration(
            {long_task: {"after": ["start"], "run": "tests.support.tasks.fail_unless_ok"}}
        )
        manager.fire("start", {"ok": False})
        text = run("triggers_status", uid)
        header, row = text.splitlines()[:2]
        self.assertEqual(header.index("status"), row.index("failed"))  # columns stay aligned
        self.assertIn("RuntimeError: not ok yet", row)
        self.assertNotIn("Traceback", text)
        self.assertIn("Traceback (most recent call last)", run("triggers_status", uid, verbosity=2))
        data = json.loads(run("triggers_status", uid, "--json"))
        self.assertIn("RuntimeError: not ok yet", data["instances"][0]["traceback"])

        listed = run("triggers_list", "--failed")
        self.assertIn(uid, listed)
        self.assertIn("1 failed", listed)
        sessions = json.loads(run("triggers_list", "--json"))["sessions"]
        self.assertEqual(next(s for s in sessions if s["uid"] == uid)["counts"]["failed"], 1)

    @override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync", "AUDIT_USERNAME": "robot"})
    def test_commands_write_log_entries_as_an_inactive_system_user(self):
        uid = new_uid("audit")
        manager = TriggerManager.for_session(uid)
        manager.update_configuration(CONFIG)
        run("triggers_fire", uid, "start", "--kwargs", '{"ok": false}')
        run("triggers_skip", uid, "load#0")
        messages = list(
            LogEntry.objects.order_by("action_time").values_list("change_message", flat=True)
        )
        self.assertTrue(
            messages[0].startswith("fire load#0: trigger 'start' (command triggers_fire")
        )
        self.assertTrue(
            messages[1].startswith("skip load#0: without cascade (command triggers_skip")
        )
        robot = User.objects.get(username="robot")
        self.assertFalse(robot.is_active or robot.has_usable_password())
        self.assertEqual({e.user for e in LogEntry.objects.all()}, {robot})


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync"})
class PipelineRunLinkTests(TestCase):
    def test_pipeline_runs_link_to_their_session_and_instance_with_units(self):
        from collector_app.models import PipelineRun

        uid = new_uid("runs")
        manager = TriggerManager.for_session(uid)
        manager.update_configuration(
            {"load": {"after": ["start"], "run": "tests.support.tasks.noop"}}
        )
        manager.fire("start", {})
        session = TriggerSession.objects.get(uid=uid)
        PipelineRun.objects.create(
            pipeline="nightly", status="passed", duration=0.065523, session_uid=uid, started=now(),
            instance="load#0", journal={},
        )  # fmt: skip
        self.client.force_login(User.objects.create_superuser("root", password="pw"))
        response = self.client.get(reverse("admin:collector_app_pipelinerun_changelist"))
        self.assertContains(response, "0.066 s")
        self.assertContains(
            response, reverse("admin:triggers_triggersession_instance", args=[session.pk, "load#0"])
        )
        self.assertContains(response, '<span class="tg-badge tg-finished">passed</span>')


class AppIndexTests(TestCase):
    def test_the_triggers_app_index_shows_workers_and_queues(self):
        self.client.force_login(User.objects.create_superuser("root", password="pw"))
        response = self.client.get(reverse("admin:app_list", args=["triggers"]))
        self.assertContains(response, 'id="queues-panel"')
        self.assertContains(response, 'data-queue="default"')
