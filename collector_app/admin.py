"""Run history in the admin: every pipeline run, its status and journal (read-only)."""

from __future__ import annotations

import json

from django.contrib import admin
from django.utils.html import format_html

from .models import PipelineRun


@admin.register(PipelineRun)
class PipelineRunAdmin(admin.ModelAdmin):
    list_display = ["pipeline", "status", "started", "duration", "session_uid", "instance"]
    list_filter = ["status", "pipeline", "started"]
    search_fields = ["pipeline", "session_uid", "error"]
    date_hierarchy = "started"
    readonly_fields = [
        "pipeline",
        "status",
        "started",
        "duration",
        "error",
        "session_uid",
        "instance",
        "journal_table",
    ]
    exclude = ["journal"]

    @admin.display(description="journal")
    def journal_table(self, run: PipelineRun) -> str:
        rows = "".join(
            format_html(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                entry.get("id"),
                entry.get("kind"),
                entry.get("status"),
                entry.get("duration"),
                f"{entry.get('error_type')}: {entry.get('error')}" if entry.get("error") else "",
            )
            for entry in run.journal.get("entries", [])
        )
        return format_html(
            "<table><tr><th>component</th><th>kind</th><th>status</th><th>seconds</th>"
            "<th>error</th></tr>{}</table><details><summary>raw</summary><pre>{}</pre></details>",
            format_html(rows) if rows else "",
            json.dumps(run.journal, indent=2),
        )

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
