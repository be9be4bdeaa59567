"""The admin: every trigger session, its graph and instances, and the repairs users trust.

Viewing needs ``triggers.view_triggersession``; acting (fire, replay, skip, resolve logs) needs
``triggers.act_on_triggersession`` as well. Every action shows a confirmation page first.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.safestring import mark_safe

from .admin_forms import AbortForm, FireForm, ReplayForm, ResolveLogsForm, SkipForm
from .exceptions import DispatchError, TriggersError
from .graph import render_svg
from .manager import get_manager
from .models import TriggerSession
from .registry import flush_pending_counts, refresh_summary
from .sessions import instance_row, lost_data_message, sorted_instances, unused_trigger_warning

ACT_PERMISSION = "triggers.act_on_triggersession"


class CountFilter(admin.SimpleListFilter):
    field = ""

    def lookups(self, request, model_admin):
        return [("yes", "Yes"), ("no", "No")]

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(**{f"{self.field}__gt": 0})
        if self.value() == "no":
            return queryset.filter(**{self.field: 0})
        return queryset


class HasFailedFilter(CountFilter):
    title = "has failed instances"
    parameter_name = "failed"
    field = "n_failed"


class HasUnresolvedFilter(CountFilter):
    title = "has unresolved instances"
    parameter_name = "unresolved"
    field = "unresolved"


ACTIONS = {
    "replay": ("Replay failed instances", ReplayForm, "failed"),
    "skip": ("Skip failed instances", SkipForm, "failed"),
    "resolve": ("Mark logs resolved", ResolveLogsForm, "logs"),
    "abort": ("Abort stuck instances", AbortForm, "stuck"),
    "fire": ("Fire a trigger", FireForm, None),
}


def session_or_404(object_id: str) -> TriggerSession:
    """The session with primary key ``object_id``; a 404 for any other id (``abc`` too)."""
    try:
        return TriggerSession.objects.get(pk=object_id)
    except (TriggerSession.DoesNotExist, ValueError, ValidationError):
        raise Http404(f"no trigger session with id {object_id!r}") from None


@admin.register(TriggerSession)
class TriggerSessionAdmin(admin.ModelAdmin):
    list_display = ["uid", "storage", "created", "updated", "unresolved", "failed"]
    list_filter = ["storage", HasFailedFilter, HasUnresolvedFilter, "created"]
    search_fields = ["uid"]
    date_hierarchy = "created"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(unresolved=TriggerSession.unresolved_expression())
        )

    @admin.display(description="unresolved", ordering="unresolved")
    def unresolved(self, obj: TriggerSession) -> int:
        return obj.unresolved

    @admin.display(description="failed", ordering="n_failed")
    def failed(self, obj: TriggerSession) -> int:
        return obj.n_failed

    def changelist_view(self, request, extra_context=None):
        flush_pending_counts()  # counts staged in Redis by cache sessions
        return super().changelist_view(request, extra_context)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # sessions are created by configuring them (code or triggers_config)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # state changes go through the actions below, never a raw form

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # triggers_purge removes a session from its backend as well

    def can_act(self, request: HttpRequest) -> bool:
        return request.user.has_perm(ACT_PERMISSION)

    def get_urls(self):
        urls = [
            path(
                "<path:object_id>/action/<str:action>/",
                self.admin_site.admin_view(self.action_view),
                name="triggers_triggersession_action",
            )
        ]
        return urls + super().get_urls()

    # -- the session page -------------------------------------------------------------------
    def change_view(self, request, object_id, form_url="", extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        session = session_or_404(object_id)
        manager = get_manager(session.uid, session.storage)
        lost = lost_data_message(manager)
        if lost:
            self.message_user(request, lost, messages.ERROR)  # the counts stay as they were
        else:
            refresh_summary(session, manager.storage)
        instances = sorted_instances(manager)
        configs = manager.storage.tasks
        rows = []
        for inst in instances:
            row = instance_row(inst)
            row["kwargs_json"] = json.dumps(inst.kwargs, indent=1, sort_keys=True, default=str)
            row["result_json"] = json.dumps(inst.result, indent=1, sort_keys=True, default=str)
            row["logs"] = inst.logs
            rows.append(row)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"Trigger session {session.uid}",
            "session": session,
            "configs": [
                (name, json.dumps(c.to_dict(), sort_keys=True)) for name, c in configs.items()
            ],
            "graph": mark_safe(render_svg(configs, instances)),
            "instances": rows,
            "latest_kwargs": json.dumps(manager.storage.latest_kwargs, indent=1, sort_keys=True),
            "session_errors": manager.storage.metadata.get("errors", []),
            "can_act": self.can_act(request),
            "actions_links": [
                (key, label, reverse("admin:triggers_triggersession_action", args=[object_id, key]))
                for key, (label, _, _) in ACTIONS.items()
            ],
        }
        return TemplateResponse(request, "admin/triggers/triggersession/detail.html", context)

    # -- actions, each with a confirmation page ---------------------------------------------
    def action_view(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        if not (self.has_view_permission(request) and self.can_act(request)):
            raise PermissionDenied
        if action not in ACTIONS:
            raise Http404(f"no trigger session action {action!r}")
        session = session_or_404(object_id)
        manager = get_manager(session.uid, session.storage)
        label, form_class, choice_kind = ACTIONS[action]
        kwargs: dict[str, Any] = {}
        if choice_kind is not None:
            kwargs["choices"] = self._choices(manager, choice_kind)
        form = form_class(request.POST or None, **kwargs)
        if request.method == "POST" and form.is_valid():
            try:
                done = self._perform(manager, action, form.cleaned_data)
            except DispatchError as exc:  # saved, not enqueued: a warning, never a retry form
                trigger = form.cleaned_data.get("trigger")
                text = f"Trigger {trigger!r} was recorded, but {exc.detail}." if trigger else exc
                self.message_user(request, str(text), messages.WARNING)
                return HttpResponseRedirect(
                    reverse("admin:triggers_triggersession_change", args=[object_id])
                )
            except (TriggersError, ValueError, LookupError) as exc:
                form.add_error(None, str(exc))
            else:
                self.message_user(request, done, messages.SUCCESS)
                if action == "fire":
                    warning = unused_trigger_warning(manager, form.cleaned_data["trigger"])
                    if warning:
                        self.message_user(
                            request, warning[:1].upper() + warning[1:], messages.WARNING
                        )
                return HttpResponseRedirect(
                    reverse("admin:triggers_triggersession_change", args=[object_id])
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"{label}: {session.uid}",
            "session": session,
            "form": form,
            "action": action,
            "nothing_to_do": choice_kind is not None and not kwargs["choices"],
        }
        return TemplateResponse(request, "admin/triggers/triggersession/confirm.html", context)

    @staticmethod
    def _choices(manager, kind: str) -> list[str]:
        if kind == "failed":
            return [inst.name for inst in sorted_instances(manager) if inst.status == "failed"]
        if kind == "stuck":
            stuck = ("scheduled", "running")
            return [inst.name for inst in sorted_instances(manager) if inst.status in stuck]
        return [inst.name for inst in manager.storage.get_instances_with_unresolved_logs()]

    @staticmethod
    def _perform(manager, action: str, data: dict[str, Any]) -> str:
        if action == "fire":
            scheduled = manager.fire(data["trigger"], data["kwargs"])
            return f"Fired {data['trigger']!r}; scheduled: {', '.join(scheduled) or 'nothing'}."
        names = data["instances"]
        for name in names:
            if action == "replay":
                manager.replay_failed_instance(name, data["kwargs"])
            elif action == "skip":
                manager.skip_failed_instance(name, data["cascade"], data["result"])
            elif action == "abort":
                manager.abort_instance(name, data["reason"])
            else:
                manager.mark_instance_logs_resolved(name)
        verb = {
            "replay": "Replayed",
            "skip": "Skipped",
            "resolve": "Resolved the logs of",
            "abort": "Aborted",
        }[action]
        return f"{verb} {', '.join(names)}."
