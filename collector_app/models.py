"""Run history: every pipeline run's journal, failed runs included."""

from __future__ import annotations

from django.db import models


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
