"""Gathering from the outside: one gather at a time, the command, RQ, trigger tasks, admin."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from django.test import override_settings
from django.urls import reverse
from django.utils import timezone

from collector_app.gathering import gather
from collector_app.gathering.checkpoints import LAST_GATHER_KEY
from collector_app.gathering.jobs import enqueue_gather
from collector_app.models import CollectorLock, GatherCheckpoint, GatherRun
from tests.support import gathering_collection
from tests.support.gathering_server import Ingress
from tests.support.helpers import SessionTestCase, new_uid
from tests.support.rq_helpers import reset_queues, run_burst_workers
from triggers import TriggerManager
from triggers.exceptions import ConfigurationError
from triggers.testing import TriggerTestMixin

DAY = timedelta(days=1)


def settings_for(url: str, **extra) -> dict:
    entry = {
        "module": "tests.support.gathering_collection",
        "ingress_url": url,
        "token": "tok",
        "http_retries": 0,
        "http_timeout": 5,
        **extra,
    }
    return {"GATHERERS": {"analytics": entry}}


def midnight():
    return timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)


class GatheringTestCase(SessionTestCase):
    def setUp(self):
        gathering_collection.reset()
        self.ingress = Ingress().__enter__()
        self.addCleanup(self.ingress.__exit__)
        override = override_settings(COLLECTORS=settings_for(self.ingress.url))
        override.enable()
        self.addCleanup(override.disable)
        self.until = midnight()


class OneGatherAtATime(GatheringTestCase):
    def test_a_gather_is_refused_while_another_machine_holds_the_lock(self):
        now = timezone.now()
        CollectorLock.objects.create(
            key="gather:analytics",
            owner="other-host:42:abcd",
            acquired=now,
            expires=now + timedelta(minutes=5),
        )
        result = gather("analytics", keys=["hosts"], until=self.until)
        assert result.status == "refused"
        assert "being gathered already (held by other-host:42:abcd)" in result.errors[0]
        assert gathering_collection.CONTROL["calls"] == [] and self.ingress.uploads == []
        assert GatherRun.objects.get(pk=result.run_id).status == "refused"
        CollectorLock.objects.filter(key="gather:analytics").update(
            expires=now - timedelta(seconds=1)  # its holder died: the lease ran out
        )
        assert gather("analytics", keys=["hosts"], until=self.until).ok
        assert not CollectorLock.objects.filter(key="gather:analytics").exists()  # released

    def test_concurrent_gathers_of_one_collection_are_refused(self):
        entered, release = threading.Event(), threading.Event()
        gathering_collection.CONTROL["hold"] = (entered, release)
        results = []

        def first():
            try:
                results.append(gather("analytics", keys=["hosts"], until=self.until))
            finally:
                from django.db import connection

                connection.close()

        thread = threading.Thread(target=first)
        thread.start()
        try:
            assert entered.wait(30), "the first gather never started"
            gathering_collection.CONTROL["hold"] = None
            second = gather("analytics", keys=["hosts"], until=self.until)
        finally:
            release.set()
            thread.join(30)
        assert second.status == "refused"
        assert results[0].ok and len(self.ingress.uploads) == 1


class GatherCommand(GatheringTestCase):
    def call(self, *args):
        out = StringIO()
        call_command("gather", *args, stdout=out, stderr=StringIO())
        return out.getvalue()

    def test_gather_shows_progress_and_a_summary(self):
        out = self.call(
            "analytics", "--key", "hosts", "--key", "jobs", "--until", self.until.isoformat()
        )
        assert "gathering 'analytics'" in out
        assert "[key] hosts: gathering" in out and "[shipped] analytics-" in out
        assert "key hosts: ok" in out and "shipped" in out
        assert GatherCheckpoint.objects.get(key="jobs").checkpoint == self.until

    def test_dry_run_into_dest_and_json(self):
        dest = str(self.tmp_path / "dest")
        out = self.call(
            "analytics",
            "--dry-run",
            "--dest",
            dest,
            "--key",
            "users",
            "--json",
            "--since",
            (self.until - DAY).date().isoformat(),
            "--until",
            self.until.date().isoformat(),
        )
        data = json.loads(out)
        assert data["status"] == "ok" and data["dry_run"] and data["dest"] == dest
        assert data["tarballs"][0]["path"].startswith(dest)
        assert self.ingress.uploads == [] and not GatherCheckpoint.objects.exists()

    def test_bad_input_and_failures_exit_non_zero(self):
        with pytest.raises(CommandError, match=r"no gathering collection 'nope'.*analytics"):
            self.call("nope")
        with pytest.raises(CommandError, match="is not before until"):
            self.call("analytics", "--since", "2026-11-20", "--until", "2026-11-19")
        with pytest.raises(CommandError, match="'someday' is not an ISO date"):
            self.call("analytics", "--since", "someday")
        with pytest.raises(CommandError, match="has no key\\(s\\) nope"):
            self.call("analytics", "--key", "nope")
        self.ingress.respond = lambda name, attempt: 503
        with pytest.raises(CommandError, match="gather 'analytics' failed"):
            self.call("analytics", "--key", "hosts")


@override_settings(TRIGGERS={"DEFAULT_RUNNER": "sync"})
class GatherAsJobAndTask(TriggerTestMixin, GatheringTestCase):
    def test_a_gather_as_an_rq_job_on_a_real_worker(self):
        reset_queues()
        job = enqueue_gather("analytics", until=self.until.isoformat())
        assert job.args == ("analytics", None, self.until.isoformat(), False, None)
        run_burst_workers(1, settings={"COLLECTORS": settings_for(self.ingress.url)})
        job.refresh()
        assert job.get_status() == "finished", job.exc_info
        assert job.return_value()["status"] == "ok"
        assert GatherCheckpoint.objects.get(key=LAST_GATHER_KEY).checkpoint == self.until
        assert {u.filename for u in self.ingress.uploads} == {
            t["name"] for t in job.return_value()["tarballs"]
        }
        config = json.loads(self.ingress.uploads[0].members()["config.json"])
        assert config["collection_type"] == "scheduled"

    def test_enqueueing_checks_names_and_windows_first(self):
        with pytest.raises(LookupError, match="no gathering collection 'nope'"):
            enqueue_gather("nope")
        with pytest.raises(ValueError, match="is not before until"):
            enqueue_gather("analytics", since="2026-11-20", until="2026-11-19")

    def test_a_gather_as_a_trigger_task_feeds_the_next_task(self):
        self.manager = TriggerManager.for_session(new_uid("gather-task"))
        params = {"until": self.until.isoformat(), "since": (self.until - DAY).isoformat()}
        self.manager.update_configuration(
            {
                "gather": {
                    "after": ["start"],
                    "run": "collector_app.gather:analytics",
                    "withParams": params,
                },
                "use": {"after": ["gather"], "run": "tests.support.tasks.echo"},
            }
        )
        self.manager.fire("start")
        result = self.assertInstanceFinished("gather#0").result
        assert result["status"] == "ok" and len(result["tarballs"]) == 2  # daily slice, default
        seen = self.assertInstanceFinished("use#0").result["seen"]["gather"]
        assert seen["keys"]["hosts"]["checkpoint"] == self.until.isoformat()

    def test_a_failed_gather_fails_its_task_and_unknown_names_are_refused(self):
        self.ingress.respond = lambda name, attempt: 500
        self.manager = TriggerManager.for_session(new_uid("gather-fail"))
        self.manager.update_configuration(
            {"gather": {"after": ["start"], "run": "collector_app.gather:analytics"}}
        )
        self.manager.fire("start")
        failed = self.assertInstanceFailed("gather#0", RuntimeError)
        assert "gather 'analytics' failed" in failed.metadata["exc_message"]
        with pytest.raises(ConfigurationError, match="task 'x', directive 'run'"):
            self.manager.update_configuration(
                {"x": {"after": ["a"], "run": "collector_app.gather:nope"}}
            )

    def test_a_refused_gather_task_is_retried_later(self):
        now = timezone.now()
        CollectorLock.objects.create(
            key="gather:analytics", owner="elsewhere", acquired=now, expires=now + DAY
        )
        override = override_settings(COLLECTORS=settings_for(self.ingress.url, retry_cooldown=0))
        override.enable()
        self.addCleanup(override.disable)
        self.manager = TriggerManager.for_session(new_uid("gather-busy"))
        self.manager.update_configuration(
            {"gather": {"after": ["start"], "run": "collector_app.gather:analytics"}}
        )
        self.manager.fire("start")
        self.assertInstanceReplayed("gather#0")  # retried (here at once: cooldown 0)...
        self.assertInstanceReplayed("gather#2")
        failed = self.assertInstanceFailed("gather#3", "MaxRetriesExceeded")  # ...3 times
        assert "being gathered already (held by elsewhere)" in failed.metadata["exc_message"]
        assert gathering_collection.CONTROL["calls"] == []


class GatheringAdmin(GatheringTestCase):
    def test_checkpoints_and_runs_are_visible_and_checkpoints_resettable(self):
        result = gather("analytics", since=self.until - DAY, until=self.until)
        self.client.force_login(User.objects.create_superuser("admin", "a@example.org", "pw"))
        page = self.client.get(reverse("admin:collector_app_gathercheckpoint_changelist"))
        self.assertContains(page, "(last gather of the collection)")
        self.assertContains(page, "hosts")
        run_page = self.client.get(
            reverse("admin:collector_app_gatherrun_change", args=[result.run_id])
        )
        for tarball in result.tarballs:
            self.assertContains(run_page, tarball.name)
        self.assertContains(run_page, "<td>hosts</td><td>ok</td>")
        row = GatherCheckpoint.objects.get(key="hosts")
        self.client.post(
            reverse("admin:collector_app_gathercheckpoint_changelist"),
            {"action": "reset", "_selected_action": [row.pk]},
        )
        row.refresh_from_db()
        assert row.checkpoint is None
