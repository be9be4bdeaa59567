"""Admin of collector state: every stored state, as JSON, with a confirmed reset.

The pages read the configured state store (``db``, ``file`` or a third-party one), not only
the ``CollectorState`` table; that model carries the permissions. ``view`` shows the JSON
read-only; ``change`` also edits it and resets it (after a confirmation page). An edit or a
reset is refused while the collector runs (its lock is held), so a repair never lands in the
middle of a run.
"""

from __future__ import annotations

import json
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import quote, unquote
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse

from ..models import CollectorState
from ..state import CollectorBusyError, CorruptStateError, NoState, StateError, get_state_store
from ..state.base import StateRecord
from ..state.maintenance import collector_of, load_record, replace_state, reset_record
from ..state.tagged import from_tagged, to_tagged

TEMPLATES = "admin/collector_app/collectorstate/"


class StateForm(forms.Form):
    state = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 20, "cols": 100, "class": "vLargeTextField"}),
        help_text=(
            "JSON. Saved as a whole, replacing the stored state (the version goes up). "
            'Tagged values ({"$datetime": "..."}, {"$set": [...]}, ...) are read back as '
            "datetimes, sets, tuples, dates and bytes."
        ),
    )

    def clean_state(self) -> Any:
        try:
            return from_tagged(json.loads(self.cleaned_data["state"]))
        except ValueError as exc:
            raise forms.ValidationError(f"not valid JSON: {exc}") from None
        except (TypeError, AttributeError) as exc:
            raise forms.ValidationError(f"a tagged value cannot be read: {exc}") from None


@admin.register(CollectorState)
class CollectorStateAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # a state exists once its collector saves it

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # use the reset page: it refuses while the collector runs

    def get_urls(self):
        view = self.admin_site.admin_view
        info = "collector_app_collectorstate"
        return [
            path("", view(self.changelist_view), name=f"{info}_changelist"),
            path("<path:object_id>/change/", view(self.change_view), name=f"{info}_change"),
            path("<path:object_id>/reset/", view(self.reset_view), name=f"{info}_reset"),
        ]

    def _context(self, request: HttpRequest, title: str, **extra: Any) -> dict[str, Any]:
        return {
            **self.admin_site.each_context(request),
            "opts": self.model._meta,
            "title": title,
            "can_change": self.has_change_permission(request),
            **extra,
        }

    @staticmethod
    def _record(object_id: str) -> tuple[Any, StateRecord]:
        store = get_state_store()
        record = store.info(unquote(object_id))
        if record is None:
            raise Http404(f"no stored state under key {unquote(object_id)!r}")
        return store, record

    @staticmethod
    def _url(name: str, record: StateRecord) -> str:
        return reverse(f"admin:collector_app_collectorstate_{name}", args=[quote(record.key)])

    # -- the list -----------------------------------------------------------------------------
    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        store = get_state_store()
        query = request.GET.get("q", "").strip()
        records = [
            record
            for record in store.list()
            if not query or query in record.key or query in collector_of(record)
        ]
        rows = [(record, collector_of(record), self._url("change", record)) for record in records]
        context = self._context(
            request, "Collector states", rows=rows, query=query, store=store.name
        )
        return TemplateResponse(request, f"{TEMPLATES}list.html", context)

    # -- one state: JSON, read-only or editable -------------------------------------------------
    def change_view(self, request, object_id, form_url="", extra_context=None) -> HttpResponse:
        if not self.has_view_permission(request):
            raise PermissionDenied
        store, record = self._record(object_id)
        can_change = self.has_change_permission(request)
        if request.method == "POST" and not can_change:
            raise PermissionDenied
        error = ""
        text = ""
        try:
            text = json.dumps(to_tagged(load_record(store, record)), indent=2, ensure_ascii=False)
        except CorruptStateError as exc:
            error = str(exc)
        except NoState as exc:
            raise Http404(str(exc)) from exc
        form = StateForm(request.POST or None, initial={"state": text}) if can_change else None
        if form is not None and request.method == "POST" and form.is_valid():
            try:
                replace_state(store, record, form.cleaned_data["state"])
            except StateError as exc:  # busy, lost lock, not JSON
                form.add_error(None, str(exc))
            else:
                self.message_user(request, f"Saved the state of {record.key}.", messages.SUCCESS)
                return HttpResponseRedirect(self._url("change", record))
        context = self._context(
            request,
            f"State of {collector_of(record)}",
            record=record,
            collector=collector_of(record),
            state_json=text,
            error=error,
            form=form,
            reset_url=self._url("reset", record),
        )
        return TemplateResponse(request, f"{TEMPLATES}detail.html", context)

    # -- reset, after a confirmation ------------------------------------------------------------
    def reset_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        if not self.has_change_permission(request):
            raise PermissionDenied
        store, record = self._record(object_id)
        error = ""
        if request.method == "POST" and request.POST.get("post") == "yes":
            try:
                reset_record(store, record)
            except CollectorBusyError as exc:
                error = f"{exc}: try again once it is done"
            else:
                self.message_user(
                    request,
                    f"Reset the state of {record.key}: the next run starts from the default.",
                    messages.SUCCESS,
                )
                return HttpResponseRedirect(
                    reverse("admin:collector_app_collectorstate_changelist")
                )
        context = self._context(
            request,
            f"Reset the state of {collector_of(record)}?",
            record=record,
            collector=collector_of(record),
            error=error,
            back_url=self._url("change", record),
        )
        return TemplateResponse(request, f"{TEMPLATES}confirm_reset.html", context)
