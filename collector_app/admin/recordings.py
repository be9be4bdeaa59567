"""Admin of the ``db`` recorder: runs, their push items (filtered by state) and attachments.

Read-only, as a record should be; runs can be deleted (with their items and files) to
clean up.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, TypedDict

from django.contrib import admin
from django.db.models import Count
from django.urls import reverse
from django.utils.html import format_html

from triggers.admin_list import session_admin_links

from ..models import AttachmentRecord, PushItemRecord, RecordingRun

PREVIEW_BYTES = 4096

if TYPE_CHECKING:
    from django_stubs_ext import WithAnnotations


class _RunCounts(TypedDict):
    """What ``RecordingRunAdmin.get_queryset`` annotates each run with."""

    n_items: int
    n_files: int


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(RecordingRun)
class RecordingRunAdmin(ReadOnlyAdmin):
    list_display = ["label", "started", "items", "files", "trigger_task"]
    search_fields = ["label", "session_uid", "instance"]
    date_hierarchy = "started"
    fields = readonly_fields = ("label", "started", "trigger_task", "items", "files")

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_items=Count("push_items", distinct=True),
                n_files=Count("attachments", distinct=True),
            )
        )

    @admin.display(description="trigger session / instance", ordering="session_uid")
    def trigger_task(self, run: RecordingRun) -> str:
        return session_admin_links(run.session_uid, run.instance)

    @admin.display(description="push items", ordering="n_items")
    def items(self, run: WithAnnotations[RecordingRun, _RunCounts]) -> str:
        url = reverse("admin:collector_app_pushitemrecord_changelist")
        return format_html('<a href="{}?run__id__exact={}">{}</a>', url, run.pk, run.n_items)

    @admin.display(description="files", ordering="n_files")
    def files(self, run: WithAnnotations[RecordingRun, _RunCounts]) -> str:
        url = reverse("admin:collector_app_attachmentrecord_changelist")
        return format_html('<a href="{}?run__id__exact={}">{}</a>', url, run.pk, run.n_files)


@admin.register(PushItemRecord)
class PushItemRecordAdmin(ReadOnlyAdmin):
    list_display = ["filename", "state", "run", "position", "src", "dest", "build"]
    list_filter = ["state", "run"]
    list_select_related = ["run"]
    search_fields = ["filename", "src", "dest", "origin", "build"]
    fields = readonly_fields = (
        "run",
        "position",
        "filename",
        "state",
        "src",
        "dest",
        "origin",
        "build",
        "signing_key",
        "checksums",
        "item_json",
    )

    @admin.display(description="item as recorded")
    def item_json(self, record: PushItemRecord) -> str:
        return format_html(
            "<pre>{}</pre>", json.dumps(record.item, indent=2, sort_keys=True, ensure_ascii=False)
        )


@admin.register(AttachmentRecord)
class AttachmentRecordAdmin(ReadOnlyAdmin):
    list_display = ["filename", "run", "size", "updated"]
    list_filter = ["run"]
    list_select_related = ["run"]
    search_fields = ["filename"]
    fields = readonly_fields = ("run", "filename", "size", "updated", "preview")

    @admin.display(description=f"first {PREVIEW_BYTES} bytes")
    def preview(self, record: AttachmentRecord) -> str:
        head = bytes(record.content[:PREVIEW_BYTES])
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError as exc:
            if exc.start < len(head) - 3:  # not just a character cut at the end
                return f"binary ({record.size} bytes)"
            text = head[: exc.start].decode("utf-8")
        return format_html("<pre>{}</pre>", text)
