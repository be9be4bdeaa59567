"""The session list of the admin: status badges, relative times, failed first, live counts.

A mixin for ``TriggerSessionAdmin`` so that the list's display and search live apart from the
session page and the actions.
"""

from __future__ import annotations

from datetime import UTC
from typing import TYPE_CHECKING, Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.db.models.expressions import Combinable
from django.http import HttpRequest, HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.timesince import timesince

from .models import TaskConfigRecord, TaskInstanceRecord, TriggerSession
from .types import STATUSES


def relative_time(when: Any) -> str:
    """``5 minutes ago`` with the exact UTC time on hover (rows minutes apart stay apart)."""
    if when is None:
        return "-"
    exact = when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    return format_html('<span title="{}">{} ago</span>', exact, timesince(when))


def status_badges(counts: dict[str, int]) -> str:
    return format_html_join(
        " ",
        '<span class="tg-badge tg-{}">{} {}</span>',
        ((status, counts[status], status) for status in STATUSES if counts.get(status)),
    )


class SortFilter(admin.SimpleListFilter):
    """``failed first``: sessions with the most failed instances on top (see ``get_ordering``)."""

    title = "order"
    parameter_name = "sort"

    def lookups(self, request, model_admin):
        return [("failed", "Failed first")]

    def queryset(self, request, queryset):
        return queryset  # the ordering is applied by SessionListMixin.get_ordering


if TYPE_CHECKING:  # the mixin's super() calls reach ModelAdmin's methods
    _AdminBase = admin.ModelAdmin[TriggerSession]
else:
    _AdminBase = object


class SessionListMixin(_AdminBase):
    """List columns, search by uid / task name / error text, and the first-failure shortcut."""

    change_list_template = "admin/triggers/triggersession/change_list.html"

    def get_ordering(self, request: HttpRequest) -> list[str | Combinable] | tuple[Any, ...]:
        if request.GET.get("sort") == "failed":
            return ["-n_failed", "-updated"]
        return super().get_ordering(request)

    def get_search_results(self, request: HttpRequest, queryset: QuerySet, search_term: str):
        """The uid, task names and the error text of failed instances: from the ``db``
        backend's rows, and for every backend from the session's ``search_text``."""
        queryset, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term:
            by_task = TaskConfigRecord.objects.filter(name__icontains=term).values("session_id")
            by_instance = TaskInstanceRecord.objects.filter(
                Q(task_name__icontains=term)
                | Q(metadata__exc_message__icontains=term)
                | Q(metadata__exc_type__icontains=term)
            ).values("session_id")
            extra = self.model.objects.filter(
                Q(pk__in=by_task) | Q(pk__in=by_instance) | Q(search_text__icontains=term)
            )
            queryset = queryset | extra.annotate(unresolved=TriggerSession.unresolved_expression())
        return queryset, may_have_duplicates

    @admin.display(description="instances")
    def status_counts(self, obj: TriggerSession) -> str:
        return format_html(
            '<span data-session="{}" data-col="counts">{}</span>',
            obj.pk,
            status_badges(obj.status_counts) or "none",
        )

    @admin.display(description="unresolved", ordering="unresolved")
    def unresolved(self, obj: TriggerSession) -> str:
        return format_html('<span data-session="{}" data-col="unresolved">{}</span>', obj.pk,
                           obj.unresolved_count)  # fmt: skip

    @admin.display(description="failed", ordering="n_failed")
    def failed(self, obj: TriggerSession) -> Any:
        if not obj.n_failed:
            return 0
        url = reverse("admin:triggers_triggersession_first_failure", args=[obj.pk])
        return format_html(
            '<a class="tg-first-failure" data-session="{}" href="{}" '
            'title="open the first failed instance and its traceback">{} failed &rarr;</a>',
            obj.pk,
            url,
            obj.n_failed,
        )

    @admin.display(description="created", ordering="created")
    def created_ago(self, obj: TriggerSession) -> str:
        return relative_time(obj.created)

    @admin.display(description="updated", ordering="updated")
    def updated_ago(self, obj: TriggerSession) -> str:
        return relative_time(obj.updated)

    def _viewable(self, request: HttpRequest, object_id: str) -> TriggerSession:
        raise NotImplementedError  # TriggerSessionAdmin's: the session, if the user may view it

    def first_failure_view(self, request: HttpRequest, object_id: str) -> HttpResponseRedirect:
        """One click from the list to the failed instance (and its traceback)."""
        from . import admin_views

        session = self._viewable(request, object_id)
        manager, summary = admin_views.read_summary(session)
        failed = manager.storage.instances_page(0, 1) if summary.counts["failed"] else []
        if not failed or failed[0].status != "failed":
            return HttpResponseRedirect(admin_views.session_url(session))
        return HttpResponseRedirect(admin_views.instance_url(session, failed[0].name) + "#error")


def session_admin_links(uid: str, instance: str = "") -> str:
    """Links to a session's page and one instance's page, for other apps' lists (pipeline runs
    that ran as trigger tasks); plain text when the session is gone."""
    if not uid:
        return "-"
    session = TriggerSession.objects.filter(uid=uid).only("pk").first()
    if session is None:
        return format_html("{} {}", uid, instance)
    page = reverse("admin:triggers_triggersession_change", args=[session.pk])
    if not instance:
        return format_html('<a href="{}">{}</a>', page, uid)
    inst = reverse("admin:triggers_triggersession_instance", args=[session.pk, instance])
    return format_html(
        '<a href="{}">{}</a> &rsaquo; <a href="{}">{}</a>', page, uid, inst, instance
    )
