"""The session page, the instance page, JSON downloads and the live endpoints of the admin.

The session page reads its counts from the backend's status index and only the instances it
shows, failed first, ``PER_PAGE`` at a time, with every payload folded; the instance page shows
one instance in full (traceback, logs, lineage, job); the live endpoints send what the page's
script needs to refresh itself.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from django.contrib import messages
from django.core.paginator import Page, Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.http import urlencode
from django.utils.safestring import mark_safe

from . import audit
from .admin_display import (
    INLINE_CHARS,
    PER_PAGE,
    format_duration,
    parse_time,
    pretty_json,
    sort_key,
    summary_row,
    timeline,
)
from .admin_live import live_payload, queues_panel, rq_url, session_queues
from .graph import legend_html, render_svg
from .manager import get_manager
from .models import TriggerSession
from .session_index import refresh_summary
from .sessions import lost_data_message
from .storages.status_index import InstancePages, StatusSummary
from .types import TaskInstance

if TYPE_CHECKING:
    from django.contrib.admin import ModelAdmin

    from .admin import TriggerSessionAdmin

IN_FLIGHT = ("scheduled", "running")


def get_session(object_id: str) -> TriggerSession:
    """The session row, or 404 for anything that is not the id of one (never a 500)."""
    try:
        return TriggerSession.objects.get(pk=int(object_id))
    except (ValueError, TypeError, TriggerSession.DoesNotExist):
        raise Http404(f"no trigger session with id {object_id!r}") from None


def session_url(session: TriggerSession) -> str:
    return reverse("admin:triggers_triggersession_change", args=[session.pk])


def instance_url(session: TriggerSession, name: str) -> str:
    return reverse("admin:triggers_triggersession_instance", args=[session.pk, name])


def action_url(session: TriggerSession, action: str, instance: str | None = None) -> str:
    url = reverse("admin:triggers_triggersession_action", args=[session.pk, action])
    return url + (f"?{urlencode({'instances': instance})}" if instance else "")


def crumbs(model_admin: ModelAdmin, session: TriggerSession, *tail: tuple[str, str | None]):
    """The one breadcrumb pattern: Home > Triggers > Trigger sessions > uid > instance > ..."""
    opts = model_admin.model._meta
    items = [
        (reverse("admin:index"), "Home"),
        (reverse("admin:app_list", args=[opts.app_label]), opts.app_config.verbose_name),
        (reverse("admin:triggers_triggersession_changelist"), "Trigger sessions"),
        (session_url(session), session.uid),
        *[(url, label) for label, url in tail],
    ]
    return [(url if i < len(items) - 1 else None, label) for i, (url, label) in enumerate(items)]


def read_session(session: TriggerSession) -> tuple[Any, list[TaskInstance]]:
    """The manager and every instance, read once, in the page's order (failed first).

    Reads the whole session: the pages use ``read_summary`` and ``InstancePages`` instead."""
    manager = get_manager(session.uid, session.storage)
    instances = sorted(manager.storage, key=sort_key)
    if not lost_data_message(manager):  # a lost session keeps the counts the table last had
        refresh_summary(session, manager.storage, instances)
    return manager, instances


def read_summary(session: TriggerSession) -> tuple[Any, StatusSummary]:
    """The manager and the session's status summary, from the backend's index (no instance is
    read); the session table's counts are brought in step with it."""
    manager = get_manager(session.uid, session.storage)
    summary = manager.storage.status_summary()
    if not lost_data_message(manager):  # a lost session keeps the counts the table last had
        refresh_summary(session, counts=summary.counts)
    return manager, summary


def page_of(request: HttpRequest, instances: Sequence[TaskInstance]) -> Page:
    return Paginator(instances, PER_PAGE).get_page(request.GET.get("page"))


def shown_page(request: HttpRequest, manager: Any, summary: StatusSummary) -> Page:
    """The page of instances asked for (``?page=``, ``?task=``), read through the index."""
    task = request.GET.get("task") or None
    return page_of(request, InstancePages(manager.storage, summary, task))


def applicable_actions(session: TriggerSession, summary: StatusSummary) -> list[str]:
    """The actions that would do something on this session right now (buttons only for those)."""
    counts = summary.counts
    keys = []
    if counts["failed"]:
        keys += ["replay", "skip"]
    if any(counts[status] for status in IN_FLIGHT):
        keys.append("abort")
    if summary.unresolved_logs:
        keys.append("resolve")
    return [*keys, "fire"]


def session_page(
    model_admin: TriggerSessionAdmin, request: HttpRequest, session: TriggerSession, actions: dict
) -> TemplateResponse:
    manager, summary = read_summary(session)
    lost = lost_data_message(manager)
    if lost:
        messages.error(request, lost)
    page = shown_page(request, manager, summary)
    now = datetime.now(UTC)
    configs = manager.storage.tasks
    metadata = manager.storage.metadata
    links = {
        name: f"{session_url(session)}?{urlencode({'task': name})}#instances" for name in configs
    }
    task_filter = request.GET.get("task")
    shown = list(page.object_list)
    first = shown if page.number == 1 and not task_filter else None
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": f"Trigger session {session.uid}",
        "crumbs": crumbs(model_admin, session),
        "session": session,
        "total": summary.total_of(task_filter or None),
        "counts": {k: v for k, v in session.status_counts.items() if v},
        "configs": [(name, json.dumps(c.to_dict(), sort_keys=True)) for name, c in configs.items()],
        "graph": mark_safe(render_svg(configs, [], links, counts=summary.tasks)),
        "legend": mark_safe(legend_html()),
        "rows": [summary_row(inst, now) for inst in shown],
        "page": page,
        "task_filter": task_filter,
        "timeline": timeline(shown, now),
        "latest_kwargs": pretty_json(metadata.get("latest_kwargs", {}))[:INLINE_CHARS],
        "session_errors": metadata.get("errors", []),
        "can_act": model_admin.can_act(request),
        "actions_links": [
            (key, actions[key][0], action_url(session, key))
            for key in applicable_actions(session, summary)
        ],
        "panel": queues_panel(session_queues(first_page(manager, first)) or None),
        "history": audit.history(session),
        "live_url": reverse("admin:triggers_triggersession_live", args=[session.pk])
        + (f"?{request.GET.urlencode()}" if request.GET else ""),
        "resolved": summary.resolved,
    }
    return TemplateResponse(request, "admin/triggers/triggersession/detail.html", context)


def first_page(manager: Any, known: list[TaskInstance] | None = None) -> list[TaskInstance]:
    """The first page in page order (failed, running, scheduled first): whose queues matter."""
    return known if known is not None else manager.storage.instances_page(0, PER_PAGE)


def live_view(request: HttpRequest, session: TriggerSession) -> JsonResponse:
    """The session page's refresh: counts, per-task counts and the shown page's instances."""
    manager, summary = read_summary(session)
    shown = list(shown_page(request, manager, summary).object_list)
    return JsonResponse(live_payload(session, summary, shown))


def lineage(storage: Any, inst: TaskInstance) -> tuple[list[str], list[str]]:
    """Ancestors (oldest first) through ``parent`` and descendants through ``replayed_by``."""
    ancestors: list[str] = []
    seen = {inst.name}
    parent = inst.parent
    while parent and parent not in seen and len(ancestors) < 100:
        ancestors.insert(0, parent)
        seen.add(parent)
        parent = storage[parent].parent if parent in storage else None
    children: list[str] = []
    child = inst.metadata.get("replayed_by")
    while child and child not in seen and len(children) < 100:
        children.append(child)
        seen.add(child)
        child = storage[child].metadata.get("replayed_by") if child in storage else None
    return ancestors, children


SHOWN_ELSEWHERE = {
    "result", "logs", "timestamps", "traceback", "exc_type", "exc_message", "duration",
    "parent", "replayed_by", "depth", "created", "rq_job_id", "rq_queue", "runner",
    # the triggers framework's spellings of the error, kept for its code: shown above already
    "exceptionType", "exceptionInfo",
}  # fmt: skip


def history_rows(inst: TaskInstance) -> list[dict[str, Any]]:
    parsed = [
        (parse_time(when), status, when)
        for status, when in inst.metadata.get("timestamps", {}).items()
    ]
    stamps = sorted((when, status, text) for when, status, text in parsed if when is not None)
    created = parse_time(inst.metadata.get("created"))
    if created is not None:
        stamps.insert(0, (created, "created", inst.metadata["created"]))
    rows = []
    for i, (when, status, text) in enumerate(stamps):
        after = format_duration((when - stamps[i - 1][0]).total_seconds()) if i else ""
        rows.append({"status": status, "time": when, "iso": text, "after": after})
    return rows


def payload_block(session: TriggerSession, inst: TaskInstance, part: str, value: Any) -> dict:
    text = pretty_json(value)
    return {
        "part": part,
        "text": text[:INLINE_CHARS],
        "cut": len(text) > INLINE_CHARS,
        "size": len(text),
        "download": reverse(
            "admin:triggers_triggersession_download", args=[session.pk, inst.name, part]
        ),
    }


def instance_page(
    model_admin: TriggerSessionAdmin, request: HttpRequest, session: TriggerSession, name: str
) -> TemplateResponse:
    from .admin_forms import ReplayForm, SkipForm

    manager = get_manager(session.uid, session.storage)
    storage = manager.storage
    if name not in storage:
        raise Http404(f"session {session.uid!r} has no instance {name!r}")
    inst = storage[name]
    meta = inst.metadata
    ancestors, children = lineage(storage, inst)
    queue, job_id = meta.get("rq_queue"), meta.get("rq_job_id")
    kwargs_text = pretty_json(inst.kwargs)
    forms: dict[str, Any] = {}
    if inst.status == "failed":
        initial: dict[str, Any] = {"instances": [name]}
        if len(kwargs_text) <= INLINE_CHARS:
            initial["kwargs"] = kwargs_text
        forms["replay"] = ReplayForm(choices=[name], initial=initial)
        forms["skip"] = SkipForm(choices=[name], initial={"instances": [name]})
    context = {
        **model_admin.admin_site.each_context(request),
        "opts": model_admin.model._meta,
        "title": f"{name} ({inst.status})",
        "crumbs": crumbs(model_admin, session, (name, None)),
        "session": session,
        "inst": inst,
        "config": storage.tasks.get(inst.task_name),
        "history": history_rows(inst),
        "duration": format_duration(meta.get("duration")),
        "kwargs": payload_block(session, inst, "kwargs", inst.kwargs),
        "result": payload_block(session, inst, "result", inst.result)
        if inst.result is not None
        else None,
        "error": {
            "type": meta.get("exc_type"),
            "message": meta.get("exc_message"),
            "traceback": meta.get("traceback"),
        }
        if meta.get("exc_type")
        else None,
        "logs": inst.logs,
        "ancestors": [(n, instance_url(session, n)) for n in ancestors],
        "children": [(n, instance_url(session, n)) for n in children],
        "other_metadata": {k: v for k, v in sorted(meta.items()) if k not in SHOWN_ELSEWHERE},
        "job": {
            "id": job_id,
            "queue": queue,
            "url": rq_url("rq_job_detail", queue, job_id) if queue and job_id else None,
            "queue_url": rq_url("rq_jobs", queue) if queue else None,
            "runner": meta.get("runner"),
        },
        "can_act": model_admin.can_act(request),
        "forms": forms,
        "action_urls": {
            key: action_url(session, key) for key in ("replay", "skip", "abort", "resolve")
        },
        "abortable": inst.status in IN_FLIGHT,
        "resolvable": inst.has_unresolved_logs,
        "here": instance_url(session, name),
    }
    return TemplateResponse(request, "admin/triggers/triggersession/instance.html", context)


def download_view(session: TriggerSession, name: str, part: str) -> HttpResponse:
    """An instance's kwargs or result as a JSON file, whatever its size."""
    if part not in ("kwargs", "result"):
        raise Http404(f"nothing called {part!r} to download")
    storage = get_manager(session.uid, session.storage).storage
    if name not in storage:
        raise Http404(f"session {session.uid!r} has no instance {name!r}")
    inst = storage[name]
    value = inst.kwargs if part == "kwargs" else inst.result
    response = HttpResponse(
        json.dumps(value, indent=1, sort_keys=True, default=str), content_type="application/json"
    )
    filename = f"{session.uid}-{name}-{part}.json".replace("#", "_").replace('"', "")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
