"""System checks for ``COLLECTORS``: a misspelt key would otherwise be silently ignored."""

from __future__ import annotations

import importlib.util
from typing import Any

from django.conf import settings
from django.core.checks import Error, register

from .conf import DEFAULTS


@register()
def check_collector_settings(app_configs: Any = None, **kwargs: Any) -> list:
    configured = getattr(settings, "COLLECTORS", None)
    if configured is None:
        return []
    if not isinstance(configured, dict):
        return [Error("settings.COLLECTORS must be a dict.", id="collector_app.E002")]
    messages: list = []
    unknown = sorted(set(configured) - set(DEFAULTS))
    if unknown:
        messages.append(
            Error(
                f"settings.COLLECTORS has unknown keys: {', '.join(unknown)}.",
                hint=f"Known keys: {', '.join(sorted(DEFAULTS))}.",
                id="collector_app.E001",
            )
        )
    lock = configured.get("STATE_LOCK", DEFAULTS["STATE_LOCK"])
    if lock not in ("wait", "refuse"):
        messages.append(
            Error(
                f"COLLECTORS['STATE_LOCK'] is {lock!r}.",
                hint="Use 'wait' or 'refuse'.",
                id="collector_app.E003",
            )
        )
    for key in ("PIPELINES", "GATHERERS", "CLASS_COLLECTORS"):
        value = configured.get(key, {})
        if not isinstance(value, dict):
            messages.append(
                Error(
                    f"COLLECTORS[{key!r}] must be a dict of name -> definition, "
                    f"not {type(value).__name__}.",
                    id="collector_app.E004",
                )
            )
    messages.extend(_check_component_modules(configured.get("COMPONENT_MODULES", [])))
    return messages


def _check_component_modules(modules: Any) -> list:
    """Every module in ``COMPONENT_MODULES`` can be found (without importing it here)."""
    if not isinstance(modules, list | tuple):
        return [
            Error(
                f"COLLECTORS['COMPONENT_MODULES'] must be a list of module names, "
                f"not {type(modules).__name__}.",
                id="collector_app.E005",
            )
        ]
    messages = []
    for index, module in enumerate(modules):
        try:
            found = isinstance(module, str) and importlib.util.find_spec(module) is not None
        except (ImportError, ValueError):  # a missing parent package, an empty name
            found = False
        if not found:
            messages.append(
                Error(
                    f"COLLECTORS['COMPONENT_MODULES'][{index}] is {module!r}, "
                    f"which is not an importable module.",
                    hint="Fix the module name, or remove it from the list.",
                    id="collector_app.E005",
                )
            )
    return messages
