"""The admin: every trigger session, its graph and instances, and the repairs users trust.

Viewing needs ``triggers.view_triggersession``; acting (fire, replay, skip, resolve logs) needs
``triggers.act_on_triggersession`` as well. Every action shows a confirmation page first.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.template.response import TemplateResponse
from django.urls import path
from django.utils.http import url_has_allowed_host_and_scheme

from . import admin_views, audit
from .admin_forms import (
    AbortForm,
    FireForm,
    ReplayForm,
    ResolveLogsForm,
    SkipForm,
    check_kept_kwargs,
)
from .admin_list import SessionListMixin, SortFilter
from .admin_live import idle_queues_warning, list_payload, session_queues
from .exceptions import DispatchError, TriggersError
from .manager import get_manager
from .models import TriggerSession
from .session_index import flush_pending_counts
from .sessions import sorted_instances, unused_trigger_warning

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


@admin.register(TriggerSession)
class TriggerSessionAdmin(SessionListMixin, admin.ModelAdmin):
    list_display = [
        "uid", "storage", "status_counts", "unresolved", "failed", "created_ago", "updated_ago",
    ]  # fmt: skip
    list_filter = ["storage", HasFailedFilter, HasUnresolvedFilter, SortFilter, "created"]
    search_fields = ["uid"]
    date_hierarchy = "created"

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(unresolved=TriggerSession.unresolved_expression())
        )

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
        view = self.admin_site.admin_view
        urls = [
            path(
                "<path:object_id>/action/<str:action>/",
                view(self.action_view),
                name="triggers_triggersession_action",
            ),
            path(
                "<int:object_id>/instance/<path:name>/download/<str:part>/",
                view(self.download_view),
                name="triggers_triggersession_download",
            ),
            path(
                "<int:object_id>/instance/<path:name>/",
                view(self.instance_view),
                name="triggers_triggersession_instance",
            ),
            path(
                "<int:object_id>/live/", view(self.live_view), name="triggers_triggersession_live"
            ),
            path("live/", view(self.list_live_view), name="triggers_triggersession_list_live"),
            path(
                "<int:object_id>/first-failure/",
                view(self.first_failure_view),
                name="triggers_triggersession_first_failure",
            ),
        ]
        return urls + super().get_urls()

    def _viewable(self, request: HttpRequest, object_id: str) -> TriggerSession:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return admin_views.get_session(object_id)

    # -- the session page, the instance page and their data ---------------------------------
    def change_view(self, request, object_id, form_url="", extra_context=None):
        session = self._viewable(request, object_id)
        return admin_views.session_page(self, request, session, ACTIONS)

    def instance_view(self, request: HttpRequest, object_id: str, name: str) -> HttpResponse:
        session = self._viewable(request, object_id)
        return admin_views.instance_page(self, request, session, name)

    def download_view(
        self, request: HttpRequest, object_id: str, name: str, part: str
    ) -> HttpResponse:
        return admin_views.download_view(self._viewable(request, object_id), name, part)

    def live_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        return admin_views.live_view(request, self._viewable(request, object_id))

    def list_live_view(self, request: HttpRequest) -> HttpResponse:
        """Counts of the sessions whose ids are given (``?ids=1,2``), for the list's refresh."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        flush_pending_counts()
        ids = [int(i) for i in request.GET.get("ids", "").split(",") if i.strip().isdigit()]
        sessions = list(TriggerSession.objects.filter(pk__in=ids[:500]))
        return JsonResponse({**list_payload(sessions), "resolved": False, "in_flight": 1})

    # -- actions, each with a confirmation page ---------------------------------------------
    def action_view(self, request: HttpRequest, object_id: str, action: str) -> HttpResponse:
        if not (self.has_view_permission(request) and self.can_act(request)):
            raise PermissionDenied
        if action not in ACTIONS:
            raise Http404(f"no action {action!r} on trigger sessions")
        session = admin_views.get_session(object_id)
        manager = get_manager(session.uid, session.storage)
        label, form_class, choice_kind = ACTIONS[action]
        kwargs: dict[str, Any] = {}
        if choice_kind is not None:
            kwargs["choices"] = self._choices(manager, choice_kind)
            wanted = request.GET.getlist("instances")
            if wanted and request.method != "POST":
                kwargs["initial"] = {"instances": [n for n in wanted if n in kwargs["choices"]]}
        form = form_class(request.POST or None, **kwargs)
        back = self._next_url(request) or admin_views.session_url(session)
        if request.method == "POST" and form.is_valid():
            try:
                done, names = self._perform(manager, action, form.cleaned_data)
            except DispatchError as exc:  # saved, not enqueued: a warning, never a retry form
                trigger = form.cleaned_data.get("trigger")
                text = f"Trigger {trigger!r} was recorded, but {exc.detail}." if trigger else exc
                self.message_user(request, str(text), messages.WARNING)
                return HttpResponseRedirect(back)
            except (TriggersError, ValueError, LookupError) as exc:
                form.add_error(None, str(exc))
            else:
                audit.record(session.uid, action, names, self._detail(action, form), request.user)
                self.message_user(request, done, messages.SUCCESS)
                if action == "fire":
                    warning = unused_trigger_warning(manager, form.cleaned_data["trigger"])
                    if warning:
                        self.message_user(
                            request, warning[:1].upper() + warning[1:], messages.WARNING
                        )
                if action in ("replay", "fire"):
                    self._warn_if_no_worker(request, manager)
                return HttpResponseRedirect(back)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": f"{label}: {session.uid}",
            "crumbs": admin_views.crumbs(self, session, (label, None)),
            "session": session,
            "form": form,
            "action": action,
            "back_url": back,
            "next": self._next_url(request),
            "nothing_to_do": choice_kind is not None and not kwargs["choices"],
        }
        return TemplateResponse(request, "admin/triggers/triggersession/confirm.html", context)

    @staticmethod
    def _next_url(request: HttpRequest) -> str | None:
        target = request.POST.get("next") or request.GET.get("next")
        if target and url_has_allowed_host_and_scheme(target, {request.get_host()}):
            return target
        return None

    @staticmethod
    def _detail(action: str, form: Any) -> str:
        data = form.cleaned_data
        if action == "replay":
            return "kwargs replaced" if data.get("kwargs") is not None else "kwargs kept"
        if action == "skip":
            return "with cascade" if data.get("cascade") else "without cascade"
        if action == "abort":
            return data.get("reason") or ""
        if action == "fire":
            return f"trigger {data['trigger']!r}"
        return ""

    def _warn_if_no_worker(self, request: HttpRequest, manager: Any) -> None:
        in_flight = [i for i in manager.storage if i.status == "scheduled"]
        warning = idle_queues_warning(session_queues(in_flight))
        if warning:
            self.message_user(request, warning, messages.WARNING)

    @staticmethod
    def _choices(manager, kind: str) -> list[str]:
        if kind == "failed":
            return [inst.name for inst in sorted_instances(manager) if inst.status == "failed"]
        if kind == "stuck":
            stuck = ("scheduled", "running")
            return [inst.name for inst in sorted_instances(manager) if inst.status in stuck]
        return [inst.name for inst in manager.storage.get_instances_with_unresolved_logs()]

    @staticmethod
    def _perform(manager, action: str, data: dict[str, Any]) -> tuple[str, list[str]]:
        if action == "fire":
            scheduled = manager.fire(data["trigger"], data["kwargs"])
            return (
                f"Fired {data['trigger']!r}; scheduled: {', '.join(scheduled) or 'nothing'}.",
                list(scheduled),
            )
        names = data["instances"]
        if action == "replay" and data["kwargs"] is None:
            for name in names:
                check_kept_kwargs(manager.storage[name])
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
        return f"{verb} {', '.join(names)}.", list(names)
