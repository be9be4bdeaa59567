"""Admin of gathering checkpoints (viewable, repairable) and gather runs (read-only)."""

from __future__ import annotations

from django.contrib import admin, messages

from triggers.admin_list import session_admin_links

from ..gathering.checkpoints import LAST_GATHER_KEY
from ..models import GatherCheckpoint, GatherRun
from .tables import html_table


@admin.register(GatherCheckpoint)
class GatherCheckpointAdmin(admin.ModelAdmin):
    """A checkpoint may be moved back by hand (the next gather re-sends from there) or reset."""

    list_display = ["collection", "key_label", "checkpoint", "last_full_sync", "updated"]
    list_filter = ["collection"]
    search_fields = ["collection", "key"]
    fields = ["collection", "key", "checkpoint", "last_full_sync", "updated"]
    readonly_fields = ["collection", "key", "updated"]
    actions = ["reset"]

    @admin.display(description="key", ordering="key")
    def key_label(self, row: GatherCheckpoint) -> str:
        return "(last gather of the collection)" if row.key == LAST_GATHER_KEY else row.key

    def has_add_permission(self, request) -> bool:
        return False  # rows are made by gathers; an unknown key would never be read

    @admin.action(
        description="Reset: the next gather starts from the horizon", permissions=["change"]
    )
    def reset(self, request, queryset) -> None:
        count = queryset.update(checkpoint=None, last_full_sync=None)
        self.message_user(request, f"Reset {count} checkpoint(s).", messages.SUCCESS)


@admin.register(GatherRun)
class GatherRunAdmin(admin.ModelAdmin):
    list_display = [
        "collection",
        "status",
        "dry_run",
        "started",
        "finished",
        "since",
        "until",
        "tarball_count",
        "trigger_task",
    ]
    list_filter = ["status", "collection", "dry_run", "started"]
    search_fields = ["collection", "error", "session_uid", "instance"]
    date_hierarchy = "started"
    fields = readonly_fields = (
        "collection",
        "status",
        "dry_run",
        "started",
        "finished",
        "since",
        "until",
        "trigger_task",
        "error",
        "keys_table",
        "tarballs_table",
    )

    @admin.display(description="tarballs")
    @admin.display(description="trigger session / instance", ordering="session_uid")
    def trigger_task(self, run: GatherRun) -> str:
        return session_admin_links(run.session_uid, run.instance)

    def tarball_count(self, run: GatherRun) -> int:
        return len((run.result or {}).get("tarballs", []))

    @admin.display(description="keys")
    def keys_table(self, run: GatherRun) -> str:
        keys = (run.result or {}).get("keys", {}).values()
        rows = (
            (
                k["key"],
                k["status"],
                k["since"] or "",
                k["until"] or "",
                k["checkpoint"] or "",
                k["error"] or "",
            )
            for k in keys
        )
        headers = ["key", "status", "since", "until", "checkpoint after", "error"]
        return html_table(headers, rows)

    @admin.display(description="tarballs")
    def tarballs_table(self, run: GatherRun) -> str:
        rows = (
            (
                t["name"],
                ", ".join(t["keys"]),
                t["size"],
                "yes" if t["shipped"] else "no",
                t["path"] or "",
                t["error"] or "",
            )
            for t in (run.result or {}).get("tarballs", [])
        )
        return html_table(["name", "keys", "bytes", "shipped", "kept at", "error"], rows)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
