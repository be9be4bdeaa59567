"""Schedules: slots, the plain-process ``Scheduler`` and RQ-driven ``PipelineSchedule`` rows."""

from __future__ import annotations

import os
import signal
import threading
import time
from datetime import UTC, datetime, timedelta
from io import StringIO
from unittest import mock

import django_rq
import pytest
from django.contrib.auth.models import Permission, User
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import override_settings
from rq import SimpleWorker

from collector_app import schedules
from collector_app.models import PipelineRun, PipelineSchedule
from collector_app.scheduler import Scheduler
from collector_app.slots import ScheduleError, next_slot
from tests.support.helpers import SessionTestCase
from tests.support.rq_helpers import reset_queues, start_worker, wait_for

T0 = datetime(2026, 11, 23, 10, 0, 0, tzinfo=UTC)


# -- slots -----------------------------------------------------------------------------------
def test_frequency_slots_stay_on_the_grid_from_start():
    start = T0
    assert next_slot(T0 - timedelta(hours=1), frequency=60, start=start) == T0
    assert next_slot(T0, frequency=60, start=start) == T0 + timedelta(seconds=60)
    late = T0 + timedelta(seconds=150.5)  # a late run does not drift the slots after it
    assert next_slot(late, frequency=60, start=start) == T0 + timedelta(seconds=180)
    assert next_slot(T0, frequency=0.5) == T0 + timedelta(seconds=0.5)


@override_settings(TIME_ZONE="Europe/Madrid", USE_TZ=True)
def test_cron_slots_are_read_in_the_project_time_zone():
    # 10:00 UTC is 11:00 in Madrid in November: the next "0 12 * * *" is 11:00 UTC.
    assert next_slot(T0, cron="0 12 * * *") == T0 + timedelta(hours=1)
    assert next_slot(T0, cron="*/15 * * * *") == T0 + timedelta(minutes=15)
    assert next_slot(T0, cron="0 12 * * *", start=T0 + timedelta(days=2)) == T0 + timedelta(
        days=2, hours=1
    )


def test_bad_schedules_are_clear_errors():
    with pytest.raises(ScheduleError, match="either a frequency or a cron"):
        next_slot(T0)
    with pytest.raises(ScheduleError, match="either a frequency or a cron"):
        next_slot(T0, frequency=5, cron="* * * * *")
    with pytest.raises(ScheduleError, match="'61 \\* \\* \\* \\*' is not a five-field cron"):
        next_slot(T0, cron="61 * * * *")
    with pytest.raises(ScheduleError, match="positive"):
        next_slot(T0, frequency=-1)


# -- the plain-process Scheduler -------------------------------------------------------------
class FakePipeline:
    """Records when each run started and ended; each run takes ``duration`` seconds."""

    def __init__(self, duration=0.0, results=None):
        self.duration = duration
        self.results = list(results or [])
        self.spans: list[tuple[float, float]] = []

    def run(self):
        began = time.time()
        time.sleep(self.duration)
        self.spans.append((began, time.time()))
        return self.results.pop(0) if self.results else True


def test_scheduler_arguments_are_checked():
    with pytest.raises(ValueError, match="frequency"):
        Scheduler(FakePipeline(), 0)
    with pytest.raises(ValueError, match="samples"):
        Scheduler(FakePipeline(), 1, samples=0)
    with pytest.raises(ValueError, match="start must be a timestamp in the future"):
        Scheduler(FakePipeline(), 1, start=time.time() - 1)


def test_scheduler_takes_samples_on_the_frequency():
    pipeline = FakePipeline()
    scheduler = Scheduler(pipeline, 0.1, samples=3)
    began = time.time()
    scheduler.run()
    assert scheduler.runs == {"passed": 3, "failed": 0, "missed": 0}
    starts = [span[0] - began for span in pipeline.spans]
    # never early; late only by how busy the machine is
    assert starts[0] < 0.3 and 0.099 < starts[1] < 0.5 and 0.199 < starts[2] < 0.6
    assert scheduler.last_run == pytest.approx(pipeline.spans[-1][0], abs=0.01)


def test_a_run_over_its_slot_counts_missed_and_the_missed_run_starts_right_after():
    pipeline = FakePipeline(duration=0.25)
    scheduler = Scheduler(pipeline, 0.1, samples=3)
    scheduler.run()
    runs = scheduler.runs
    assert runs["passed"] == 3 and runs["failed"] == 0
    # every run covers slots at +0.1 and +0.2 after its own slot: two missed per run, at least
    assert runs["missed"] >= 4
    for (_, ended), (began, _) in zip(pipeline.spans, pipeline.spans[1:], strict=False):
        assert began - ended < 0.08  # right after, not at the next slot


def test_stop_on_failure_and_going_on_after_failures():
    pipeline = FakePipeline(results=[False])
    scheduler = Scheduler(pipeline, 0.05, samples=5, stop_on_failure=True)
    scheduler.run()
    assert scheduler.runs == {"passed": 0, "failed": 1, "missed": 0}

    pipeline = FakePipeline(results=[False, False, True])
    scheduler = Scheduler(pipeline, 0.05, samples=1)
    scheduler.run()
    assert scheduler.runs == {"passed": 1, "failed": 2, "missed": 0}


def test_the_first_run_waits_for_start_and_stop_ends_the_loop():
    pipeline = FakePipeline()
    start = time.time() + 0.3
    scheduler = Scheduler(pipeline, 0.05, start=start)
    thread = threading.Thread(target=scheduler.run)
    thread.start()
    deadline = time.time() + 10
    while not pipeline.spans and time.time() < deadline:
        time.sleep(0.01)
    scheduler.stop()
    thread.join(2)
    assert not thread.is_alive()
    assert pipeline.spans and pipeline.spans[0][0] >= start
    runs = scheduler.runs["passed"]
    time.sleep(0.2)  # four more slots would have come: the loop has ended
    assert scheduler.runs["passed"] == runs


class SteppedClock:
    """``time`` as the scheduler sees it, with a wall clock that ``step()`` moves."""

    def __init__(self):
        self.offset = 0.0
        self.monotonic, self.sleep = time.monotonic, time.sleep

    def time(self):
        return time.time() + self.offset


class SteppingPipeline(FakePipeline):
    """Steps the wall clock by ``step`` seconds during its first run."""

    def __init__(self, clock, step):
        super().__init__()
        self.clock, self.step = clock, step

    def run(self):
        if not self.spans:
            self.clock.offset += self.step
        return super().run()


@pytest.mark.parametrize("step", [-3600, 86400], ids=["back-1h", "forward-1d"])
def test_a_wall_clock_step_neither_stalls_nor_counts_missed_runs(monkeypatch, step):
    clock = SteppedClock()
    monkeypatch.setattr("collector_app.scheduler.time", clock)
    pipeline = SteppingPipeline(clock, step)
    scheduler = Scheduler(pipeline, 0.05, samples=3)
    thread = threading.Thread(target=scheduler.run, daemon=True)
    thread.start()
    thread.join(5)
    scheduler.stop()
    assert not thread.is_alive(), "the scheduler stalled after the clock stepped back"
    assert scheduler.runs == {"passed": 3, "failed": 0, "missed": 0}
    starts = [began for began, _ in pipeline.spans]
    assert 0.049 < starts[1] - starts[0] < 0.5 and 0.049 < starts[2] - starts[1] < 0.5


# -- schedules run by RQ ---------------------------------------------------------------------
PIPELINES = {
    "quick": {"sources": [{"type": "tests.pipe.constant", "id": "c", "config": {"value": 1}}]},
    "slow": {"sources": [{"type": "tests.pipe.sleep", "id": "s", "config": {"seconds": 1.0}}]},
    "broken": {
        "sources": [{"type": "tests.pipe.constant", "id": "c", "config": {"value": "fail"}}]
    },
}
COLLECTORS = {"PIPELINES": PIPELINES, "COMPONENT_MODULES": ["tests.support.pipeline_components"]}


def scheduled_ids() -> list[str]:
    return django_rq.get_queue("default").scheduled_job_registry.get_job_ids()


def work_queue() -> None:
    """Run what is on the default queue in this process (scheduled jobs are left alone)."""
    queue = django_rq.get_queue("default")
    SimpleWorker([queue], connection=queue.connection).work(burst=True)


@override_settings(COLLECTORS=COLLECTORS)
class Schedules(SessionTestCase):
    def setUp(self):
        reset_queues()

    def make(self, **fields) -> PipelineSchedule:
        fields = {"name": "every-minute", "pipeline": "quick", "frequency": 60, **fields}
        schedule = PipelineSchedule(**fields)
        schedule.full_clean()
        schedule.save()
        return schedules.arm(schedule)

    def test_model_validation_names_the_field(self):
        with self.assertRaises(ValidationError) as caught:
            PipelineSchedule(name="x", pipeline="nope", cron="bad").full_clean()
        self.assertIn("no pipeline 'nope'", str(caught.exception.message_dict["pipeline"]))
        self.assertIn("five-field cron", str(caught.exception.message_dict["cron"]))
        with self.assertRaises(ValidationError) as caught:
            PipelineSchedule(name="x", pipeline="quick").full_clean()
        self.assertIn("either a frequency or a cron", str(caught.exception.message_dict))
        with self.assertRaises(ValidationError) as caught:
            PipelineSchedule(name="x", pipeline="quick", frequency=0.5).full_clean()
        self.assertIn("at least 1 second", str(caught.exception.message_dict["frequency"]))

    def test_arming_puts_the_next_slot_in_rqs_scheduler(self):
        before = datetime.now(UTC)
        schedule = self.make()
        self.assertEqual(scheduled_ids(), [schedule.next_job_id])
        self.assertGreater(schedule.next_run, before)
        self.assertLessEqual(schedule.next_run, before + timedelta(seconds=61))
        self.assertEqual(schedule.next_run.microsecond, 0)
        job = django_rq.get_queue("default").fetch_job(schedule.next_job_id)
        self.assertEqual(job.args, (schedule.pk, schedule.generation, "slot"))

        disabled = schedules.set_enabled(schedule.name, False)
        self.assertEqual(scheduled_ids(), [])
        self.assertIsNone(disabled.next_run)
        self.assertGreater(disabled.generation, schedule.generation)

    def test_a_slot_arms_the_next_one_runs_and_counts(self):
        schedule = self.make()
        result = schedules.run_scheduled(schedule.pk, schedule.generation, "slot")
        self.assertEqual(result["status"], "passed")
        schedule.refresh_from_db()
        self.assertEqual((schedule.passed, schedule.failed, schedule.missed), (1, 0, 0))
        self.assertEqual(schedule.last_status, "passed")
        self.assertEqual(schedule.running_job_id, "")
        self.assertIn(schedule.next_job_id, scheduled_ids())
        self.assertEqual(PipelineRun.objects.filter(pipeline="quick").count(), 1)

    def test_slots_without_start_stay_on_the_grid_of_the_schedules_creation(self):
        schedule = self.make(frequency=3600)
        created = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
        PipelineSchedule.objects.filter(pk=schedule.pk).update(created=created)
        schedule.refresh_from_db()
        late = created + timedelta(hours=2, minutes=7)  # the slot job of +2h ran 7 min late
        with mock.patch("collector_app.schedules.timezone.now", return_value=late):
            schedules.run_scheduled(schedule.pk, schedule.generation, "slot")
        schedule.refresh_from_db()
        self.assertEqual(schedule.next_run, created + timedelta(hours=3))
        rearmed = schedules.arm(schedule, now=late + timedelta(minutes=30))  # an edit
        self.assertEqual(rearmed.next_run, created + timedelta(hours=3))

    def test_a_job_of_an_older_generation_does_nothing(self):
        schedule = self.make()
        old = schedule.generation
        schedules.arm(schedule)  # an edit in the admin re-arms
        result = schedules.run_scheduled(schedule.pk, old, "slot")
        self.assertIn("skipped", result)
        self.assertFalse(PipelineRun.objects.exists())

    def test_a_slot_during_a_run_is_missed_and_the_run_catches_up_right_after(self):
        schedule = self.make(pipeline="slow")
        runner = threading.Thread(
            target=schedules.run_scheduled, args=(schedule.pk, schedule.generation, "slot")
        )
        runner.start()
        wait_for(
            lambda: PipelineSchedule.objects.get(pk=schedule.pk).running_job_id,
            message="the slow run to start",
        )
        result = schedules.run_scheduled(schedule.pk, schedule.generation, "slot")
        self.assertIn("missed", result)
        during = PipelineSchedule.objects.get(pk=schedule.pk)
        self.assertEqual((during.missed, during.catch_up), (1, True))
        runner.join(10)
        after = PipelineSchedule.objects.get(pk=schedule.pk)
        self.assertEqual((after.passed, after.missed, after.catch_up), (1, 1, False))
        queue = django_rq.get_queue("default")
        self.assertEqual(queue.count, 1)  # the catch-up run, enqueued for right now
        self.assertEqual(queue.jobs[0].args[2], "catch-up")
        work_queue()
        after.refresh_from_db()
        self.assertEqual((after.passed, after.missed), (2, 1))
        self.assertEqual(PipelineRun.objects.filter(pipeline="slow").count(), 2)

    def test_a_dead_runs_marker_does_not_block_the_next_slot(self):
        schedule = self.make()
        PipelineSchedule.objects.filter(pk=schedule.pk).update(
            running_job_id="a-job-that-rq-no-longer-has", running_since=datetime.now(UTC)
        )
        schedules.run_scheduled(schedule.pk, schedule.generation, "slot")
        schedule.refresh_from_db()
        self.assertEqual((schedule.passed, schedule.missed), (1, 0))

    def test_samples_disable_the_schedule(self):
        schedule = self.make(samples=1)
        schedules.run_scheduled(schedule.pk, schedule.generation, "slot")
        schedule.refresh_from_db()
        self.assertFalse(schedule.enabled)
        self.assertIsNone(schedule.next_run)
        self.assertEqual(scheduled_ids(), [])

    def test_failures_count_and_stop_on_failure_disables(self):
        schedule = self.make(pipeline="broken")
        with self.assertRaisesMessage(RuntimeError, "pipeline 'broken' failed"):
            schedules.run_scheduled(schedule.pk, schedule.generation, "slot")
        schedule.refresh_from_db()
        self.assertEqual((schedule.failed, schedule.enabled), (1, True))
        PipelineSchedule.objects.filter(pk=schedule.pk).update(stop_on_failure=True)
        with self.assertRaises(RuntimeError):
            schedules.run_scheduled(schedule.pk, schedule.generation, "slot")
        schedule.refresh_from_db()
        self.assertEqual(
            (schedule.failed, schedule.enabled, schedule.last_status), (2, False, "failed")
        )
        self.assertEqual(scheduled_ids(), [])

    def test_run_now_runs_even_a_disabled_schedule_and_sync_rearms_lost_chains(self):
        schedule = self.make(enabled=False)
        schedules.run_now(schedule.name)
        work_queue()
        schedule.refresh_from_db()
        self.assertEqual((schedule.passed, schedule.enabled), (1, False))

        enabled = schedules.set_enabled(schedule.name, True)
        reset_queues()  # Redis lost the scheduled job
        self.assertEqual([s.name for s in schedules.sync()], [schedule.name])
        rearmed = PipelineSchedule.objects.get(pk=schedule.pk)
        self.assertGreater(rearmed.generation, enabled.generation)
        self.assertEqual(scheduled_ids(), [rearmed.next_job_id])
        self.assertEqual(schedules.sync(), [])

    def test_a_real_worker_with_rqs_scheduler_runs_the_slots(self):
        schedule = self.make(name="each-second", frequency=1, samples=2)
        worker = start_worker(burst=False, scheduler=True, settings={"COLLECTORS": COLLECTORS})
        try:
            wait_for(
                lambda: not PipelineSchedule.objects.get(pk=schedule.pk).enabled,
                timeout=30,
                message="two passed runs",
            )
        finally:
            # the whole process group: RQ's scheduler is a child process of the worker
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait()
        schedule.refresh_from_db()
        self.assertEqual((schedule.passed, schedule.failed), (2, 0))
        runs = list(PipelineRun.objects.filter(pipeline="quick").order_by("started"))
        self.assertEqual(len(runs), 2)
        gap = (runs[1].started - runs[0].started).total_seconds()
        self.assertGreater(gap, 0.5)

    def test_the_command_lists_enables_disables_and_runs(self):
        self.make()
        out = StringIO()
        call_command("collector_schedule", "list", stdout=out)
        self.assertIn("every-minute", out.getvalue())
        self.assertIn("every 60s", out.getvalue())
        call_command("collector_schedule", "disable", "every-minute", stdout=StringIO())
        self.assertFalse(PipelineSchedule.objects.get(name="every-minute").enabled)
        self.assertEqual(scheduled_ids(), [])
        call_command("collector_schedule", "enable", "every-minute", stdout=StringIO())
        self.assertEqual(len(scheduled_ids()), 1)
        call_command("collector_schedule", "run", "every-minute", stdout=StringIO())
        self.assertEqual(django_rq.get_queue("default").count, 1)
        with self.assertRaisesMessage(CommandError, "no pipeline schedule named 'nope'"):
            call_command("collector_schedule", "enable", "nope")

    def test_admin_run_now_asks_first_and_needs_the_change_permission(self):
        schedule = self.make()
        url = "/admin/collector_app/pipelineschedule/"
        post = {"action": "run_now", "_selected_action": [schedule.pk]}
        viewer = User.objects.create_user("viewer", password="x", is_staff=True)
        viewer.user_permissions.add(Permission.objects.get(codename="view_pipelineschedule"))
        self.client.force_login(viewer)
        page = self.client.get(url)
        self.assertNotContains(page, "Run now")
        self.client.force_login(User.objects.create_superuser("admin", password="x"))
        page = self.client.get(url)
        self.assertContains(page, "Run now")
        confirm = self.client.post(url, post)
        self.assertContains(confirm, "Please confirm")
        self.assertEqual(django_rq.get_queue("default").count, 0)
        done = self.client.post(url, {**post, "post": "yes"}, follow=True)
        self.assertContains(done, "Enqueued a run of 1 schedule")
        self.assertEqual(django_rq.get_queue("default").count, 1)
