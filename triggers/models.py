"""Sessions, task configurations, task instances and their logs, as database rows.

``TriggerSession`` is also the registry of every session, whatever its storage: the ``cache``
backend registers a session when it is first configured and keeps its per-status counts up to
date, so the admin can list, filter and search all sessions in one table. The other models hold
the state of sessions stored with the ``db`` backend.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F

from .session_index import count_field
from .types import (
    RESOLVED_STATUSES,
    STATUSES,
)

STATUS_CHOICES = [(status, status) for status in STATUSES]
UNRESOLVED_STATUSES = [status for status in STATUSES if status not in RESOLVED_STATUSES]


class TriggerSession(models.Model):
    uid = models.CharField(max_length=255, unique=True)
    storage = models.CharField(max_length=200, default="cache", db_index=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    updated = models.DateTimeField(auto_now=True, db_index=True)
    # State of sessions kept by the ``db`` backend.
    metadata = models.JSONField(default=dict, blank=True)
    counters = models.JSONField(default=dict, blank=True)
    version = models.BigIntegerField(default=0)
    # Instances per status, for every backend (kept by status deltas; see refresh_summary).
    n_unstarted = models.IntegerField(default=0)
    n_scheduled = models.IntegerField(default=0)
    n_running = models.IntegerField(default=0)
    n_finished = models.IntegerField(default=0)
    n_failed = models.IntegerField(default=0, db_index=True)
    #: Task names and the errors of failed instances, one per line, so the admin can search
    #: sessions of every backend by them (``registry.index_search_text``).
    search_text = models.TextField(blank=True, default="")
    n_skipped = models.IntegerField(default=0)
    n_replayed = models.IntegerField(default=0)
    n_abandoned = models.IntegerField(default=0)

    class Meta:
        ordering = ["-updated"]
        verbose_name = "trigger session"
        permissions = [
            (
                "act_on_triggersession",
                "Can fire, replay, skip and resolve logs in trigger sessions",
            ),
        ]

    def __str__(self) -> str:
        return self.uid

    @property
    def status_counts(self) -> dict[str, int]:
        return {status: getattr(self, count_field(status)) for status in STATUSES}

    @property
    def unresolved_count(self) -> int:
        return sum(getattr(self, count_field(status)) for status in UNRESOLVED_STATUSES)

    @classmethod
    def unresolved_expression(cls):
        expression = F(count_field(UNRESOLVED_STATUSES[0]))
        for status in UNRESOLVED_STATUSES[1:]:
            expression = expression + F(count_field(status))
        return expression


class TaskConfigRecord(models.Model):
    session = models.ForeignKey(
        TriggerSession, on_delete=models.CASCADE, related_name="task_configs"
    )
    name = models.CharField(max_length=255)
    directives = models.JSONField(default=dict)

    class Meta:
        ordering = ["session", "name"]
        constraints = [
            models.UniqueConstraint(fields=["session", "name"], name="triggers_config_unique_name")
        ]

    def __str__(self) -> str:
        return self.name


class TaskInstanceRecord(models.Model):
    session = models.ForeignKey(TriggerSession, on_delete=models.CASCADE, related_name="instances")
    name = models.CharField(max_length=300)
    task_name = models.CharField(max_length=255)
    number = models.IntegerField()
    status = models.CharField(max_length=16, choices=STATUS_CHOICES, db_index=True)
    kwargs = models.JSONField(default=dict, blank=True)
    result = models.JSONField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    rq_job_id = models.CharField(max_length=100, blank=True, default="")
    depth = models.IntegerField(default=0)
    parent = models.CharField(max_length=300, blank=True, default="")
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    updated = models.DateTimeField(auto_now=True, db_index=True)

    class Meta:
        ordering = ["session", "task_name", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["session", "name"], name="triggers_instance_unique_name"
            )
        ]
        indexes = [
            models.Index(fields=["session", "status"], name="triggers_inst_session_status"),
            models.Index(
                fields=["session", "task_name", "status"], name="triggers_inst_task_status"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class InstanceLog(models.Model):
    instance = models.ForeignKey(
        TaskInstanceRecord, on_delete=models.CASCADE, related_name="log_records"
    )
    position = models.IntegerField()
    level = models.IntegerField(db_index=True)
    message = models.TextField()
    time = models.DateTimeField(db_index=True)
    resolved = models.BooleanField(default=False, db_index=True)

    class Meta:
        ordering = ["instance", "position"]

    def __str__(self) -> str:
        return f"{self.instance.name} [{self.level}] {self.message[:60]}"
