"""The library behind ``manage.py collect``: open a pipeline, show its progress and its journal.

The management command stays thin (arguments, exit code); everything it prints is built here so
it can be tested and reused without Django's command machinery. Everything shown goes through a
``Masker`` that knows every secret option value of the pipeline: the journal masks a component's
own secrets in its error, but a bundle or another component's error could still quote one.
(``Masker`` is ``collector_app.masking.Masker``, the app's one masker.)
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from .components import Component
from .conf import collectors_setting
from .definition import DefinitionError
from .exceptions import CollectorsError
from .masking import Masker
from .options import MASK, Configurator, OptionError
from .pipeline import RUNNING, Journal, JournalEntry, Pipeline
from .registry import REGISTRIES, ComponentRegistryError, load_component_modules
from .runs import UnknownPipelineError, named_pipeline

KIND_LABELS = {"sources": "source", "aggregators": "aggregator", "sinks": "sink"}


class PipelineNotFound(LookupError, CollectorsError):
    """Neither a pipeline file nor a name in ``COLLECTORS["PIPELINES"]``."""


#: What opening a pipeline raises for bad input: shown as one line, without a traceback.
LOAD_ERRORS: tuple[type[Exception], ...] = (
    DefinitionError,
    OptionError,
    ComponentRegistryError,
    UnknownPipelineError,
    PipelineNotFound,
    OSError,
)


class _Stream(Protocol):
    def write(self, text: str, /) -> Any: ...

    def flush(self) -> Any: ...


# -- opening a pipeline -------------------------------------------------------------------------
def open_pipeline(target: str) -> Pipeline:
    """Build (and so validate) the pipeline in file ``target``, else the one named ``target``.

    An existing file wins over a name, so a file path is never shadowed by a setting.
    """
    path = Path(target)
    if path.is_file():
        return Pipeline(path)
    if target in collectors_setting("PIPELINES"):
        return named_pipeline(target)
    if path.suffix.lower() in {".toml", ".json"} or len(path.parts) > 1:
        raise PipelineNotFound(f"pipeline file {target!r} does not exist")
    known = ", ".join(sorted(collectors_setting("PIPELINES"))) or "none"
    raise PipelineNotFound(
        f"no pipeline file {target!r} and no pipeline named {target!r} in "
        f"COLLECTORS['PIPELINES'] (known: {known})"
    )


def pipeline_components(pipeline: Pipeline) -> list[Component]:
    return [c for kind in KIND_LABELS for c in pipeline.components[kind]]


# -- progress -----------------------------------------------------------------------------------
def _label(entry: JournalEntry) -> str:
    name = entry.id if entry.type == entry.id else f"{entry.id} ({entry.type})"
    return f"  [{entry.kind}] {name}"


def format_event(entry: JournalEntry) -> str:
    """One line for a component starting or ending."""
    if entry.status == RUNNING:
        return f"{_label(entry)} ... running"
    line = f"{_label(entry)} {entry.status}"
    if entry.duration is not None:
        line += f" {entry.duration:.3f}s"
    if entry.attempts > 1:
        line += f" ({entry.attempts} attempts)"
    if entry.error:
        first = entry.error.splitlines()[0] if entry.error.strip() else ""
        line += f": {entry.error_type}: {first}"
    return line


class ProgressPrinter:
    """A pipeline listener printing one line per event; plain lines, so logs and pipes work.

    The pipeline calls listeners from several threads at once: a lock keeps lines whole.
    """

    def __init__(self, stream: _Stream, mask: Callable[[str], str] = str) -> None:
        self.stream = stream
        self.mask = mask
        self._lock = threading.Lock()

    def __call__(self, entry: JournalEntry) -> None:
        line = self.mask(format_event(entry))
        with self._lock:
            self.stream.write(line + "\n")
            self.stream.flush()  # live even when stdout is a pipe


# -- the journal --------------------------------------------------------------------------------
def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def format_journal(journal: Journal, verbosity: int = 1, mask: Callable[[str], str] = str) -> str:
    """The journal as a table, then errors (and at ``verbosity >= 2`` their tracebacks)."""
    lines = [f"pipeline {journal.pipeline!r} {journal.status} in {journal.duration:.3f}s"]
    rows = [["kind", "id", "type", "status", "seconds", "attempts"]]
    for e in journal.entries:
        seconds = f"{e.duration:.3f}" if e.duration is not None else "-"
        rows.append([e.kind, e.id, e.type, e.status, seconds, str(e.attempts)])
    lines += _table(rows)
    failed = [e for e in journal.entries if e.error]
    if failed:
        lines.append("errors:")
    for e in failed:
        lines.append(f"  {e.id}: {e.error_type}: {e.error}")
        if verbosity >= 2 and e.traceback:
            lines += ["    " + line for line in e.traceback.rstrip().splitlines()]
    if journal.error:
        lines.append(f"error: {journal.error}")
    return mask("\n".join(lines))


def journal_dict(journal: Journal, masker: Masker | None = None) -> dict[str, Any]:
    """``Journal.to_dict()`` plus the data: what ``collect --json`` prints."""
    data = {**journal.to_dict(), "data": json.loads(json.dumps(journal.data, default=str))}
    return (masker or Masker()).value(data)


def format_bundle(data: Any, masker: Masker | None = None) -> str:
    return json.dumps((masker or Masker()).value(data), indent=2, default=str)


# -- dry run ------------------------------------------------------------------------------------
def plan(pipeline: Pipeline) -> list[dict[str, Any]]:
    """The validated components with their options (secrets masked): what would run."""
    return [
        {
            "kind": c.kind,
            "id": c.id,
            "type": c.type,
            "optional": c.optional,
            "timeout": c.timeout,
            "config": c.config.masked(),
        }
        for c in pipeline_components(pipeline)
    ]


def format_plan(pipeline: Pipeline) -> str:
    lines = [f"pipeline {pipeline.name!r} is valid; dry run, nothing was run:"]
    for item in plan(pipeline):
        flags = ("optional " if item["optional"] else "") + (
            f"timeout={item['timeout']:g}s " if item["timeout"] is not None else ""
        )
        name = item["id"] if item["id"] == item["type"] else f"{item['id']} ({item['type']})"
        config = json.dumps(item["config"], default=str, sort_keys=True)
        lines.append(f"  [{item['kind']}] {name} {flags}config={config}")
    return "\n".join(lines)


# -- listing components -------------------------------------------------------------------------
def schema_type(schema: dict[str, Any] | None) -> str:
    """A short name for what a JSON Schema accepts: ``string``, ``integer|null``, ``enum``."""
    if not schema:
        return "any"
    kind = schema.get("type")
    if isinstance(kind, list):
        return "|".join(map(str, kind))
    if kind:
        return str(kind)
    if "enum" in schema:
        return "enum(" + ", ".join(json.dumps(v) for v in schema["enum"]) + ")"
    return "schema"


def pipeline_path(target: str) -> Path | None:
    """The file behind ``target`` (a path, or a named pipeline given as a path), if any."""
    if Path(target).is_file():
        return Path(target)
    configured = collectors_setting("PIPELINES").get(target)
    return Path(configured) if isinstance(configured, str | Path) else None


def load_modules_for_listing(target: str | None = None) -> list[str]:
    """Import the component modules (and ``flowconf.py`` next to the pipeline); errors as text."""
    errors = []
    path = pipeline_path(target) if target else None
    if target and path is None:
        errors.append(f"no pipeline file {target!r}: listing without its local components")
    try:
        load_component_modules(path)
    except Exception as exc:  # listing shows what it can; the error is reported, not raised
        errors.append(f"loading component modules failed: {type(exc).__name__}: {exc}")
    return errors


def describe_component(kind: str, name: str) -> dict[str, Any]:
    """A registered component's class, summary and declared options; or why it cannot load."""
    info: dict[str, Any] = {"kind": KIND_LABELS[kind], "name": name}
    try:
        cls = REGISTRIES[kind].get(name)
        configurator = Configurator()
        # declare_config needs no validated values: call it on a bare instance.
        cls.declare_config(cls.__new__(cls), configurator)
    except Exception as exc:  # a broken plugin is listed with its error, not fatal
        info.update(error=f"{type(exc).__name__}: {exc}", options=[])
        return info
    doc = (cls.__doc__ or "").strip().splitlines()
    info.update(
        {
            "class": f"{cls.__module__}.{cls.__qualname__}",
            "doc": doc[0] if doc else "",
            "options": [
                {
                    "key": option.key,
                    "default": MASK
                    if option.secret and option.default is not None
                    else option.default,
                    "optional": option.optional,
                    "secret": option.secret,
                    "schema_type": schema_type(option.schema),
                }
                for option in configurator.declarations
            ],
            "error": None,
        }
    )
    return info


def describe_components() -> dict[str, list[dict[str, Any]]]:
    """Every registered source, aggregator and sink (modules must be loaded first)."""
    return {
        kind: [describe_component(kind, name) for name in registry.names()]
        for kind, registry in REGISTRIES.items()
    }


def format_components(described: dict[str, list[dict[str, Any]]]) -> str:
    lines: list[str] = []
    for kind, components in described.items():
        lines.append(f"{kind}:")
        if not components:
            lines.append("  (none)")
        for info in components:
            if info["error"]:
                lines.append(f"  {info['name']}  ERROR: {info['error']}")
                continue
            doc = f"  {info['doc']}" if info["doc"] else ""
            lines.append(f"  {info['name']}  ({info['class']}){doc}")
            if not info["options"]:
                lines.append("    no options")
                continue
            rows = [["option", "type", "default", "optional", "secret"]]
            for opt in info["options"]:
                default = "-" if not opt["optional"] else json.dumps(opt["default"], default=str)
                if opt["secret"] and opt["default"] == MASK:
                    default = MASK
                rows.append(
                    [
                        opt["key"],
                        opt["schema_type"],
                        default,
                        "yes" if opt["optional"] else "no",
                        "yes" if opt["secret"] else "no",
                    ]
                )
            lines += ["  " + line for line in _table(rows)]
    return "\n".join(lines)
