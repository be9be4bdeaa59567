"""Run history: every pipeline run's journal, failed runs included."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class PipelineRun(models.Model):
    pipeline = models.CharField(max_length=200, db_index=True)
    status = models.CharField(max_length=16, db_index=True)
    started = models.DateTimeField(db_index=True)
    duration = models.FloatField()
    error = models.TextField(blank=True, default="")
    #: The journal without the collected data (secrets masked), as ``Journal.to_dict()``.
    journal = models.JSONField(default=dict)
    #: Set when the run was a trigger task: its session and instance.
    session_uid = models.CharField(max_length=255, blank=True, default="", db_index=True)
    instance = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["-started"]
        indexes = [models.Index(fields=["pipeline", "-started"], name="collector_run_latest")]

    def __str__(self) -> str:
        return f"{self.pipeline} {self.started:%Y-%m-%d %H:%M:%S} {self.status}"


class PipelineSchedule(models.Model):
    """A named pipeline run on a schedule by RQ workers (see ``scheduling.schedules``)."""

    name = models.SlugField(max_length=100, unique=True)
    #: A name in ``COLLECTORS["PIPELINES"]``.
    pipeline = models.CharField(max_length=200)
    frequency = models.FloatField(
        null=True, blank=True, help_text="Seconds between runs (at least 1); or give a cron."
    )
    cron = models.CharField(
        max_length=100, blank=True, default="", help_text="Five-field cron, in TIME_ZONE."
    )
    start = models.DateTimeField(null=True, blank=True, help_text="No run before this time.")
    #: Without ``start``, frequency slots are ``created + k * frequency``: a late run or a
    #: re-arm never shifts the slots after it.
    created = models.DateTimeField(default=timezone.now, editable=False)
    samples = models.PositiveIntegerField(
        null=True, blank=True, help_text="Disable after this many passed runs; empty: forever."
    )
    stop_on_failure = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True)
    queue = models.CharField(max_length=100, default="default")

    passed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    missed = models.PositiveIntegerField(default=0)
    last_run = models.DateTimeField(null=True, blank=True)
    last_status = models.CharField(max_length=16, blank=True, default="")
    next_run = models.DateTimeField(null=True, blank=True)

    #: Bumped whenever the chain of slot jobs is re-armed; older jobs see it and do nothing.
    generation = models.PositiveIntegerField(default=0)
    next_job_id = models.CharField(max_length=200, blank=True, default="")
    running_job_id = models.CharField(max_length=200, blank=True, default="")
    running_since = models.DateTimeField(null=True, blank=True)
    #: A slot came while a run was going: run again as soon as it ends.
    catch_up = models.BooleanField(default=False)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        from django.core.exceptions import ValidationError

        from .conf import collectors_setting
        from .scheduling.slots import ScheduleError, validate_cron

        errors: dict[str, str] = {}
        if self.pipeline and self.pipeline not in collectors_setting("PIPELINES"):
            known = ", ".join(sorted(collectors_setting("PIPELINES"))) or "none"
            errors["pipeline"] = (
                f"no pipeline {self.pipeline!r} in COLLECTORS['PIPELINES'] ({known})"
            )
        if (self.frequency is None) == (not self.cron):
            errors["frequency"] = "give either a frequency or a cron expression"
        elif self.frequency is not None and self.frequency < 1:
            errors["frequency"] = "at least 1 second (RQ schedules jobs to the second)"
        if self.cron:
            try:
                self.cron = validate_cron(self.cron)
            except ScheduleError as exc:
                errors["cron"] = str(exc)
        if not errors:
            errors.update(self._slot_errors())
        if errors:
            raise ValidationError(errors)

    def _slot_errors(self) -> dict[str, str]:
        """A cron that never comes (``0 0 30 2 *``) or a frequency past year 9999 (``1e12``)
        is a form error, not a server error when the schedule is armed."""
        from django.utils import timezone

        from .scheduling.slots import ScheduleError, next_slot

        try:
            next_slot(timezone.now(), frequency=self.frequency, cron=self.cron, start=self.start)
        except (ScheduleError, OverflowError, ValueError) as exc:
            if self.cron:
                return {"cron": f"cron {self.cron!r} never comes: no date matches it ({exc})"}
            return {
                "frequency": f"a frequency of {self.frequency:g} seconds gives no next run "
                f"before the year 9999 ({exc})"
            }
        return {}


class CollectorState(models.Model):
    """What a configured collector remembers between runs (the ``db`` state store)."""

    #: The collector's name plus a digest of its configuration: one state per configured
    #: collector, not per Python class.
    key = models.CharField(max_length=255, unique=True)
    collector = models.CharField(max_length=200, db_index=True)
    config_digest = models.CharField(max_length=64, blank=True, default="")
    state = models.JSONField(null=True)
    #: Bumped by every save; a save that expected another version is refused.
    version = models.PositiveIntegerField(default=0)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["collector", "key"]

    def __str__(self) -> str:
        return self.key


class CollectorLock(models.Model):
    """A lease on one configured collector, so two runs of it never interleave."""

    key = models.CharField(max_length=255, unique=True)
    owner = models.CharField(max_length=255)
    acquired = models.DateTimeField()
    expires = models.DateTimeField(db_index=True)

    def __str__(self) -> str:
        return f"{self.key} held by {self.owner}"


class RecordingRun(models.Model):
    """One recording run of the ``db`` recorder: the push items and files it recorded."""

    started = models.DateTimeField(db_index=True)
    label = models.CharField(max_length=200, blank=True, default="")
    #: Set when the run was recorded by a trigger task: its session and instance.
    session_uid = models.CharField(max_length=255, blank=True, default="", db_index=True)
    instance = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["-started"]

    def __str__(self) -> str:
        return f"{self.label or 'run'} {self.started:%Y-%m-%d %H:%M:%S}"


class PushItemRecord(models.Model):
    run = models.ForeignKey(RecordingRun, on_delete=models.CASCADE, related_name="push_items")
    #: Position in the run, in the order the items were recorded.
    position = models.PositiveIntegerField()
    filename = models.TextField()
    state = models.CharField(max_length=32, db_index=True)
    src = models.TextField(blank=True, default="")
    dest = models.TextField(blank=True, default="")
    origin = models.TextField(blank=True, default="")
    build = models.TextField(blank=True, default="")
    signing_key = models.TextField(blank=True, default="")
    checksums = models.JSONField(null=True, blank=True)
    #: The whole item as given, extra keys included (the columns above hold "" for null).
    item = models.JSONField()

    class Meta:
        ordering = ["run", "position"]
        constraints = [
            models.UniqueConstraint(fields=["run", "position"], name="collector_pushitem_position")
        ]

    def __str__(self) -> str:
        return f"{self.filename} {self.state}"


class AttachmentRecord(models.Model):
    run = models.ForeignKey(RecordingRun, on_delete=models.CASCADE, related_name="attachments")
    filename = models.CharField(max_length=1000)
    content = models.BinaryField()
    size = models.PositiveBigIntegerField(default=0)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["run", "filename"]
        constraints = [
            models.UniqueConstraint(fields=["run", "filename"], name="collector_attachment_name")
        ]

    def __str__(self) -> str:
        return self.filename


class GatherCheckpoint(models.Model):
    """How far one key of a gathering collection was gathered **and** shipped."""

    collection = models.CharField(max_length=200)
    key = models.CharField(max_length=200)
    #: The ``until`` of the last window of this key that was gathered and shipped.
    checkpoint = models.DateTimeField(null=True, blank=True)
    last_full_sync = models.DateTimeField(null=True, blank=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["collection", "key"]
        constraints = [
            models.UniqueConstraint(fields=["collection", "key"], name="collector_checkpoint_key")
        ]

    def __str__(self) -> str:
        return f"{self.collection}:{self.key}"


class GatherRun(models.Model):
    """One gather of a collection: its window, outcome and the tarballs it made."""

    collection = models.CharField(max_length=200, db_index=True)
    started = models.DateTimeField(db_index=True)
    finished = models.DateTimeField(null=True, blank=True)
    status = models.CharField(max_length=16, db_index=True)
    dry_run = models.BooleanField(default=False)
    since = models.DateTimeField(null=True, blank=True)
    until = models.DateTimeField(null=True, blank=True)
    #: Per-key statuses, tarballs (path, shipped) and errors, as the result object gives them.
    result = models.JSONField(default=dict)
    error = models.TextField(blank=True, default="")
    #: Set when the gather ran as a trigger task: its session and instance.
    session_uid = models.CharField(max_length=255, blank=True, default="", db_index=True)
    instance = models.CharField(max_length=300, blank=True, default="")

    class Meta:
        ordering = ["-started"]

    def __str__(self) -> str:
        return f"{self.collection} {self.started:%Y-%m-%d %H:%M:%S} {self.status}"
