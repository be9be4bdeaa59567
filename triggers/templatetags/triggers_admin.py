"""``{% triggers_queues_panel %}``: the workers and queues panel, for the Triggers app index."""

from __future__ import annotations

from typing import Any

from django import template

from ..admin_live import queues_panel

register = template.Library()


@register.inclusion_tag("admin/triggers/triggersession/_queues.html")
def triggers_queues_panel() -> dict[str, Any]:
    return {"panel": queues_panel()}
