"""Pipeline and gather runs whose process was killed end ``failed`` ("process lost")."""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import timedelta

from django.db import connection
from django.test import override_settings
from django.utils import timezone

from collector_app.gathering import gather
from collector_app.jobs import enqueue_pipeline
from collector_app.models import GatherRun, PipelineRun
from collector_app.recovery import (
    GATHER,
    LEASE_SPACE,
    PIPELINE,
    _lease_name,
    recover_runs,
    run_lease,
)
from tests.support.helpers import SessionTestCase
from tests.support.rq_helpers import finish, reset_queues, start_worker, wait_for
from triggers.recovery import recover
from triggers.signals import recovery_pass
from triggers.watch import Lease, control_connection

PIPELINES = {
    "slow": {"sources": [{"type": "tests.pipe.sleep", "id": "s", "config": {"seconds": 60}}]},
}
COLLECTORS = {"PIPELINES": PIPELINES, "COMPONENT_MODULES": ["tests.support.pipeline_components"]}
TRIGGERS = {"LEASE_TIMEOUT": 1.0}


@override_settings(COLLECTORS=COLLECTORS, TRIGGERS=TRIGGERS)
class LostRuns(SessionTestCase):
    def setUp(self):
        reset_queues()

    def old(self) -> timezone.datetime:
        return timezone.now() - timedelta(seconds=5)

    def test_a_killed_pipeline_job_ends_failed_process_lost(self):
        enqueue_pipeline("slow")
        worker = start_worker(
            worker_class="triggers.worker.SimpleWorker",
            triggers=TRIGGERS,
            settings={"COLLECTORS": COLLECTORS},
        )
        try:
            wait_for(
                lambda: PipelineRun.objects.filter(pipeline="slow", status="running").exists(),
                30,
                "the pipeline run to start",
            )
            time.sleep(1.5)  # older than LEASE_TIMEOUT: only the lease keeps it running
            self.assertEqual(recover().repaired, [], "a live run must not be failed")
        finally:
            os.killpg(worker.pid, signal.SIGKILL)
            finish(worker)
        run = PipelineRun.objects.get(pipeline="slow")
        wait_for(lambda: recover().repaired, 10, "recovery of the lost run")
        run.refresh_from_db()
        self.assertEqual(run.status, "failed")
        self.assertIn("process lost", run.error)
        self.assertGreater(run.duration, 1.0)
        self.assertEqual(recover().repaired, [], "recovery is idempotent")

    def test_a_killed_gather_ends_failed_and_a_leased_or_young_one_is_left_alone(self):
        def gather_run(started):
            return GatherRun.objects.create(collection="c", started=started, status="running")

        lost, leased, young = (
            gather_run(self.old()),
            gather_run(self.old()),
            gather_run(timezone.now()),
        )
        # a lease of a row with the same id in another database (same Redis) is not this one's
        stranger = Lease(
            control_connection(),
            LEASE_SPACE,
            GATHER,
            _lease_name(lost.pk, lost.started - timedelta(days=1)),
        )
        stranger.start()
        try:
            with run_lease(GATHER, leased.pk):
                repaired = recover_runs()
        finally:
            stranger.stop()
        self.assertEqual(repaired, [f"gather run {lost.pk} (c) marked failed: process lost"])
        lost.refresh_from_db()
        self.assertEqual(lost.status, "failed")
        self.assertIn("process lost: no heartbeat for more than 1s", lost.error)
        self.assertIsNotNone(lost.finished)
        statuses = GatherRun.objects.filter(pk__in=[leased.pk, young.pk]).values_list(
            "status", flat=True
        )
        self.assertEqual(list(statuses), ["running", "running"])

    def test_a_finished_run_is_never_marked_lost(self):
        run = PipelineRun.objects.create(
            pipeline="slow", status="passed", started=self.old(), duration=0.1
        )
        self.assertEqual(recover_runs(), [])
        run.refresh_from_db()
        self.assertEqual(run.status, "passed")

    def test_the_command_and_a_failing_receiver(self):
        from io import StringIO

        from django.core.management import call_command

        run = PipelineRun.objects.create(
            pipeline="slow", status="running", started=self.old(), duration=0
        )
        with run_lease(PIPELINE, run.pk):
            out = StringIO()
            call_command("collector_recover", stdout=out)
            self.assertIn("0 run(s) marked failed", out.getvalue())

        time.sleep(1.2)  # the lease is left to expire (LEASE_TIMEOUT), not deleted

        def broken(**kwargs):
            raise RuntimeError("boom")

        recovery_pass.connect(broken, dispatch_uid="tests.broken")
        try:
            report = recover()
        finally:
            recovery_pass.disconnect(dispatch_uid="tests.broken")
        self.assertTrue(any("broken" in e and "RuntimeError: boom" in e for e in report.errors))
        self.assertEqual(
            report.repaired, [f"pipeline run {run.pk} (slow) marked failed: process lost"]
        )
        self.assertIn("1 other repairs", report.summary())


class GatherHoldsItsLease(SessionTestCase):
    def test_a_running_gather_is_not_marked_lost(self):
        from tests.support import gathering_collection
        from tests.support.gathering_server import Ingress
        from tests.test_gathering_runners import midnight, settings_for

        gathering_collection.reset()
        entered, release = threading.Event(), threading.Event()
        gathering_collection.CONTROL["hold"] = (entered, release)
        results = []

        def run():
            try:
                results.append(gather("analytics", keys=["hosts"], until=midnight()))
            finally:
                connection.close()

        with Ingress() as ingress, override_settings(COLLECTORS=settings_for(ingress.url)):
            thread = threading.Thread(target=run)
            thread.start()
            try:
                self.assertTrue(entered.wait(30), "the gather never started")
                later = timezone.now() + timedelta(hours=1)  # any row is old by then
                self.assertEqual(recover_runs(now=later), [])
                self.assertEqual(GatherRun.objects.get().status, "running")
            finally:
                gathering_collection.reset()
                release.set()
                thread.join(30)
        self.assertTrue(results[0].ok, results[0].errors)
        self.assertEqual(GatherRun.objects.get().status, "ok")
