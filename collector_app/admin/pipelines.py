"""Run history (read-only) and schedules (with confirmed actions: run now, enable, ...)."""

from __future__ import annotations

import json

from django.contrib import admin, messages
from django.template.response import TemplateResponse
from django.utils.html import format_html

from triggers.admin_display import format_duration
from triggers.admin_list import relative_time, session_admin_links

from ..models import PipelineRun, PipelineSchedule
from ..scheduling import schedules
from .tables import html_table


@admin.register(PipelineRun)
class PipelineRunAdmin(admin.ModelAdmin):
    list_display = ["pipeline", "status_badge", "started_ago", "duration_text", "trigger_task"]
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

    class Media:
        css = {"all": ["triggers/admin.css"]}  # the status badges of the trigger sessions

    @admin.display(description="status", ordering="status")
    def status_badge(self, run: PipelineRun) -> str:
        kind = {"passed": "finished", "failed": "failed", "running": "running"}
        return format_html(
            '<span class="tg-badge tg-{}">{}</span>', kind.get(run.status, "unstarted"), run.status
        )

    @admin.display(description="started", ordering="started")
    def started_ago(self, run: PipelineRun) -> str:
        return relative_time(run.started)

    @admin.display(description="duration", ordering="duration")
    def duration_text(self, run: PipelineRun) -> str:
        return format_duration(run.duration)

    @admin.display(description="trigger session / instance", ordering="session_uid")
    def trigger_task(self, run: PipelineRun) -> str:
        return session_admin_links(run.session_uid, run.instance)

    @admin.display(description="journal")
    def journal_table(self, run: PipelineRun) -> str:
        rows = (
            (
                entry.get("id"),
                entry.get("kind"),
                entry.get("status"),
                entry.get("duration"),
                f"{entry.get('error_type')}: {entry.get('error')}" if entry.get("error") else "",
            )
            for entry in run.journal.get("entries", [])
        )
        return format_html(
            "{}<details><summary>raw</summary><pre>{}</pre></details>",
            html_table(["component", "kind", "status", "seconds", "error"], rows),
            json.dumps(run.journal, indent=2),
        )

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


def _confirmed(description: str):
    """An admin action that first shows the chosen schedules and asks for a confirmation."""

    def decorator(perform):
        def action(modeladmin, request, queryset):
            if request.POST.get("post") == "yes":
                done = perform(modeladmin, request, queryset)
                modeladmin.message_user(request, done, messages.SUCCESS)
                return None
            context = {
                **modeladmin.admin_site.each_context(request),
                "opts": modeladmin.model._meta,
                "title": description,
                "description": description,
                "queryset": queryset,
                "action": perform.__name__,
            }
            return TemplateResponse(
                request, "admin/collector_app/pipelineschedule/confirm_action.html", context
            )

        action.__name__ = perform.__name__
        return admin.action(description=description, permissions=["change"])(action)

    return decorator


#: What runs of a schedule update: shown, never edited.
SCHEDULE_COUNTERS = [
    "passed",
    "failed",
    "missed",
    "last_run",
    "last_status",
    "next_run",
    "running_since",
]


@admin.register(PipelineSchedule)
class PipelineScheduleAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "pipeline",
        "enabled",
        "when",
        "passed",
        "failed",
        "missed",
        "last_run",
        "last_status",
        "next_run",
    ]
    list_filter = ["enabled", "pipeline", "last_status"]
    search_fields = ["name", "pipeline"]
    fields = [
        "name",
        "pipeline",
        "frequency",
        "cron",
        "start",
        "samples",
        "stop_on_failure",
        "enabled",
        "queue",
        *SCHEDULE_COUNTERS,
    ]
    readonly_fields = SCHEDULE_COUNTERS
    actions = ["run_now", "enable", "disable", "reset_counters"]

    @admin.display(description="when")
    def when(self, schedule: PipelineSchedule) -> str:
        return f"every {schedule.frequency:g}s" if schedule.frequency else f"cron {schedule.cron}"

    def save_model(self, request, obj, form, change) -> None:
        super().save_model(request, obj, form, change)
        schedules.arm(obj)  # a new start, frequency or cron takes effect from now on

    @_confirmed("Run now")
    def run_now(self, request, queryset) -> str:
        for schedule in queryset:
            schedules.run_now(schedule)
        return f"Enqueued a run of {len(queryset)} schedule(s)."

    @_confirmed("Enable")
    def enable(self, request, queryset) -> str:
        for schedule in queryset:
            schedules.set_enabled(schedule, True)
        return f"Enabled {len(queryset)} schedule(s)."

    @_confirmed("Disable")
    def disable(self, request, queryset) -> str:
        for schedule in queryset:
            schedules.set_enabled(schedule, False)
        return f"Disabled {len(queryset)} schedule(s)."

    @_confirmed("Reset the passed / failed / missed counters")
    def reset_counters(self, request, queryset) -> str:
        count = queryset.update(passed=0, failed=0, missed=0)
        return f"Reset the counters of {count} schedule(s)."
