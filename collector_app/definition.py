"""Pipeline definitions: TOML file, JSON file or dict, validated with errors that name the path.

    [[sources]]
    type = "env"
    id = "environment"
    config = { include = ["PATH"] }

    [[sinks]]
    type = "json_file"
    id = "save"
    timeout = "2s"
    config = { path = "{pipeline.dir}/out/{env.USER}.json" }

Files are TOML, JSON or YAML (``.yaml`` / ``.yml``, with the ``[yaml]`` extra: PyYAML). A
``schedule`` section (flowbber's) is read into ``definition.schedule`` (``scheduling.spec``).

Placeholders in strings: ``{env.NAME}``, ``{pipeline.dir}``, ``{pipeline.name}``,
``{pipeline.file}``, ``{pipeline.ext}`` (``.toml``), ``{git.root}``, ``{git.branch}``,
``{git.rev}`` (of the checkout above the pipeline file) and ``{settings.NAME}`` (Django settings);
``{{`` and ``}}`` stand for literal braces. An unknown namespace or name is an error naming the
path of the value.

Secret options are different: their value is either exactly one placeholder (``{env.TOKEN}``),
replaced by its value, or the secret itself, taken verbatim (``{hunter2}`` and ``pa}}ss{{word``
are secrets, not placeholders). A placeholder's value is never parsed again.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import tomllib
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .components import Component, parse_timeout
from .exceptions import CollectorsError
from .options import Configurator, OptionError
from .registry import REGISTRIES, ComponentRegistryError, load_component_modules
from .scheduling.spec import ScheduleError, ScheduleSpec, parse_schedule

KINDS = ("sources", "aggregators", "sinks")
ENTRY_KEYS = {"type", "id", "optional", "timeout", "config"}
_ID = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")
_PLACEHOLDER = re.compile(r"\{\{|\}\}|\{([^{}]*)\}")
#: The whole value of a secret option when it is a placeholder (anything else is the secret).
_SECRET_PLACEHOLDER = re.compile(r"\{\s*((?:env|pipeline|git|settings)\.[^{}]+?)\s*\}")


class DefinitionError(ValueError, CollectorsError):
    """A pipeline definition is invalid at ``path`` (e.g. ``sinks[1].config.uri``)."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        super().__init__(f"{path}: {message}" if path else message)


@dataclass(frozen=True)
class ComponentEntry:
    kind: str
    index: int
    type: str
    id: str
    optional: bool = False
    timeout: float | None = None
    config: dict[str, Any] = field(default_factory=dict)

    @property
    def path(self) -> str:
        return f"{self.kind}[{self.index}]"


@dataclass(frozen=True)
class PipelineDefinition:
    name: str
    sources: tuple[ComponentEntry, ...]
    aggregators: tuple[ComponentEntry, ...]
    sinks: tuple[ComponentEntry, ...]
    base_dir: Path | None = None
    #: The ids of the sources and aggregators whose data is the run's result when the
    #: pipeline is a trigger task (``None``: all the data).
    result: tuple[str, ...] | None = None
    #: The ``schedule`` section (flowbber's), if any.
    schedule: ScheduleSpec | None = None
    #: The file the definition was read from (``None`` for a dict).
    path: Path | None = None

    def entries(self) -> tuple[ComponentEntry, ...]:
        return self.sources + self.aggregators + self.sinks


def load_definition(
    definition: str | Path | Mapping[str, Any], name: str | None = None
) -> PipelineDefinition:
    """Read (if a path), substitute placeholders and validate a pipeline definition."""
    base_dir = path = None
    if isinstance(definition, str | Path):
        path = Path(definition)
        base_dir = path.resolve().parent
        name = name or path.stem
        data = _read(path)
        load_component_modules(path)
    else:
        data = definition
        load_component_modules()
    name = name or "pipeline"
    if not isinstance(data, Mapping):
        raise DefinitionError("", "a pipeline definition is a mapping with sources and sinks")
    namespaces = _Namespaces(name, base_dir, path)
    data = _substitute_definition(data, namespaces)
    return dataclasses.replace(_validate(data, name, base_dir), path=path)


def _read(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DefinitionError("", f"cannot read {path}: {exc.strerror or exc}") from exc
    try:
        if path.suffix.lower() == ".toml":
            return tomllib.loads(text)
        if path.suffix.lower() == ".json":
            return json.loads(text)
        if path.suffix.lower() in {".yaml", ".yml"}:
            return _yaml(path, text)
    except (tomllib.TOMLDecodeError, json.JSONDecodeError) as exc:
        raise DefinitionError("", f"{path} is not valid {path.suffix[1:].upper()}: {exc}") from exc
    raise DefinitionError("", f"{path}: a pipeline file is .toml, .json, .yaml or .yml")


def _yaml(path: Path, text: str) -> Any:
    try:
        import yaml
    except ImportError:
        raise DefinitionError(
            "",
            f"{path}: YAML pipelines need PyYAML: pip install 'django-triggered-collectors[yaml]'",
        ) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise DefinitionError("", f"{path} is not valid YAML: {exc}") from exc


class _Namespaces:
    def __init__(self, name: str, base_dir: Path | None, path: Path | None = None) -> None:
        self.name = name
        self.base_dir = base_dir
        self.path = path

    def lookup(self, expression: str, path: str) -> str:
        namespace, _, key = expression.partition(".")
        if not key:
            raise DefinitionError(path, f"placeholder {{{expression}}} needs a namespace.name")
        if namespace == "env":
            if key not in os.environ:
                raise DefinitionError(path, f"environment variable {key!r} is not set")
            return os.environ[key]
        if namespace == "pipeline":
            values = {"name": self.name, "dir": str(self.base_dir or Path.cwd())}
            if self.path is not None:
                values.update(file=self.path.name, ext=self.path.suffix)
            if key not in values:
                raise DefinitionError(
                    path,
                    f"{{pipeline.{key}}}: known are pipeline.dir, .name, .file and .ext "
                    "(.file and .ext only for a pipeline read from a file)",
                )
            return values[key]
        if namespace == "git":
            start = self.base_dir or Path.cwd()
            if key == "root":
                return str(_git_root(start, path))
            if key in {"branch", "rev"}:
                return _git(start, key, path)
            raise DefinitionError(path, f"{{git.{key}}}: known are git.root, .branch and .rev")
        if namespace == "settings":
            from django.conf import settings

            if not hasattr(settings, key):
                raise DefinitionError(path, f"setting {key!r} does not exist")
            return str(getattr(settings, key))
        raise DefinitionError(
            path,
            f"unknown placeholder namespace {namespace!r} (known: env, pipeline, git, settings)",
        )


def _git_root(start: Path, path: str, placeholder: str = "git.root") -> Path:
    for folder in (start, *start.parents):
        if (folder / ".git").exists():
            return folder
    raise DefinitionError(
        path, f"{{{placeholder}}}: the pipeline is not in a git checkout (none at or above {start})"
    )


def _git(start: Path, key: str, path: str) -> str:
    """The branch or short revision of the checkout holding ``start`` (flowbber's values)."""
    root = _git_root(start, path, f"git.{key}")
    git = shutil.which("git")
    if git is None:
        raise DefinitionError(path, f"{{git.{key}}}: the git executable is not installed")
    args = ["--abbrev-ref", "HEAD"] if key == "branch" else ["--short", "--verify", "HEAD"]
    done = subprocess.run(
        [git, "-C", str(root), "rev-parse", *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines()[-1] if done.stderr.strip() else "failed"
        raise DefinitionError(path, f"{{git.{key}}}: git rev-parse in {root}: {reason}")
    return done.stdout.strip()


def substitute(value: Any, namespaces: _Namespaces, path: str) -> Any:
    if isinstance(value, str):

        def replace(match: re.Match) -> str:
            if match.group(0) == "{{":
                return "{"
            if match.group(0) == "}}":
                return "}"
            return namespaces.lookup(match.group(1).strip(), path)

        return _PLACEHOLDER.sub(replace, value)
    if isinstance(value, Mapping):
        return {k: substitute(v, namespaces, _join(path, k)) for k, v in value.items()}
    if isinstance(value, list):
        return [substitute(v, namespaces, f"{path}[{i}]") for i, v in enumerate(value)]
    return value


def _substitute_definition(data: Mapping[str, Any], namespaces: _Namespaces) -> dict[str, Any]:
    """Substitute placeholders everywhere, except that secret options are never parsed."""
    result = {}
    for key, value in data.items():
        if key in KINDS and isinstance(value, list):
            result[key] = [
                _substitute_entry(key, index, entry, namespaces)
                for index, entry in enumerate(value)
            ]
        else:
            result[key] = substitute(value, namespaces, _join("", key))
    return result


def _substitute_entry(kind: str, index: int, entry: Any, namespaces: _Namespaces) -> Any:
    path = f"{kind}[{index}]"
    if not isinstance(entry, Mapping):
        return substitute(entry, namespaces, path)
    result = {
        key: substitute(value, namespaces, f"{path}.{key}")
        for key, value in entry.items()
        if key != "config"
    }
    config = entry.get("config")
    if isinstance(config, Mapping):
        secret = _secret_keys(kind, result.get("type"))
        result["config"] = {
            key: (_secret_value if key in secret else substitute)(
                value, namespaces, f"{path}.config.{key}"
            )
            for key, value in config.items()
        }
    elif "config" in entry:
        result["config"] = config  # not a mapping: validation names the path
    return result


def _secret_keys(kind: str, type_: Any) -> frozenset[str]:
    """The secret options of component ``type_`` (none if unknown: validation says so later)."""
    try:
        cls = REGISTRIES[kind].get(type_) if isinstance(type_, str) else None
        if cls is None:
            return frozenset()
        configurator = Configurator()
        # declare_config needs no validated values: call it on a bare instance.
        cls.declare_config(cls.__new__(cls), configurator)
    except Exception:  # an unknown or broken component is reported when it is built
        return frozenset()
    return configurator.secret_keys


def _secret_value(value: Any, namespaces: _Namespaces, path: str) -> Any:
    """A secret option's value: one whole placeholder is replaced, anything else is kept."""
    if isinstance(value, str) and (match := _SECRET_PLACEHOLDER.fullmatch(value)):
        return namespaces.lookup(match.group(1), path)
    return value


def _join(path: str, key: Any) -> str:
    return f"{path}.{key}" if path else str(key)


def _validate(data: dict[str, Any], name: str, base_dir: Path | None) -> PipelineDefinition:
    unknown = sorted(set(data) - set(KINDS) - {"result", "schedule"})
    if unknown:
        raise DefinitionError(
            unknown[0], f"unknown key (a pipeline has {', '.join(KINDS)}, result and schedule)"
        )
    schedule = None
    if "schedule" in data:
        try:
            schedule = parse_schedule(data["schedule"])
        except ScheduleError as exc:
            raise DefinitionError(exc.key, str(exc).split(": ", 1)[-1]) from None
    if not data.get("sources"):
        raise DefinitionError("sources", "a pipeline needs at least one source")
    seen: dict[str, str] = {}
    parsed: dict[str, tuple[ComponentEntry, ...]] = {}
    for kind in KINDS:
        entries = data.get(kind, [])
        if not isinstance(entries, list):
            raise DefinitionError(
                kind, f"must be a list of components, not {type(entries).__name__}"
            )
        parsed[kind] = tuple(
            _entry(kind, index, entry, seen) for index, entry in enumerate(entries)
        )
    result = _result(data.get("result"), parsed)
    return PipelineDefinition(
        name, parsed["sources"], parsed["aggregators"], parsed["sinks"], base_dir, result, schedule
    )


def _result(value: Any, parsed: dict[str, tuple[ComponentEntry, ...]]) -> tuple[str, ...] | None:
    """``result = ["summary", "host"]``: ids whose data a trigger task returns."""
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise DefinitionError("result", "must be a list of source or aggregator ids")
    known = {entry.id for kind in ("sources", "aggregators") for entry in parsed[kind]}
    for index, item in enumerate(value):
        if item not in known:
            raise DefinitionError(
                f"result[{index}]",
                f"{item!r} is not the id of a source or aggregator "
                f"(known: {', '.join(sorted(known))})",
            )
    return tuple(value)


def _entry(kind: str, index: int, entry: Any, seen: dict[str, str]) -> ComponentEntry:
    path = f"{kind}[{index}]"
    if not isinstance(entry, Mapping):
        raise DefinitionError(path, f"a component is a mapping, not {type(entry).__name__}")
    unknown = sorted(set(entry) - ENTRY_KEYS)
    if unknown:
        raise DefinitionError(
            f"{path}.{unknown[0]}", f"unknown key (a component has {', '.join(sorted(ENTRY_KEYS))})"
        )
    for key in ("type", "id"):
        if key not in entry:
            raise DefinitionError(f"{path}.{key}", "is required")
        if not isinstance(entry[key], str) or not entry[key]:
            raise DefinitionError(
                f"{path}.{key}", f"must be a non-empty string, not {entry[key]!r}"
            )
    id_ = entry["id"]
    if not _ID.match(id_):
        raise DefinitionError(f"{path}.id", f"{id_!r}: use letters, digits, '_', '-' and '.'")
    if id_ in seen:
        raise DefinitionError(f"{path}.id", f"duplicate id {id_!r} (also used by {seen[id_]})")
    seen[id_] = path
    optional = entry.get("optional", False)
    if not isinstance(optional, bool):
        raise DefinitionError(f"{path}.optional", f"must be true or false, not {optional!r}")
    try:
        timeout = parse_timeout(entry.get("timeout"), id_)
    except OptionError as exc:
        raise DefinitionError(f"{path}.timeout", str(exc).split(": ", 1)[-1]) from None
    config = entry.get("config", {})
    if not isinstance(config, Mapping):
        raise DefinitionError(f"{path}.config", f"must be a mapping, not {type(config).__name__}")
    type_ = entry["type"]
    if kind == "sinks" and type_ == "archive" and "output" not in config:
        type_ = _legacy_archive(path, config)
    return ComponentEntry(kind, index, type_, id_, optional, timeout, dict(config))


def _legacy_archive(path: str, config: Mapping[str, Any]) -> str:
    """``archive`` without ``output`` is the old recorder sink, now ``record``: it still runs,
    with a warning (flowbber's ``archive``, a JSON file, always has ``output``)."""
    warnings.warn(
        f"{path}: sink type 'archive' without 'output' is the recorder sink, renamed 'record'; "
        "'archive' is now flowbber's JSON file sink (docs/migrating.md)",
        DeprecationWarning,
        stacklevel=4,
    )
    return "record"


def build_components(definition: PipelineDefinition) -> dict[str, list[Component]]:
    """Instantiate every component, validating its options; errors name the path."""
    built: dict[str, list[Component]] = {}
    for kind in KINDS:
        built[kind] = []
        for entry in getattr(definition, kind):
            try:
                cls = REGISTRIES[kind].get(entry.type)
            except ComponentRegistryError as exc:
                raise DefinitionError(f"{entry.path}.type", str(exc)) from None
            try:
                component = cls(
                    entry.index,
                    entry.type,
                    entry.id,
                    optional=entry.optional,
                    timeout=entry.timeout,
                    config=entry.config,
                )
            except OptionError as exc:
                where = f"{entry.path}.config" + (f".{exc.option}" if exc.option else "")
                raise DefinitionError(where, str(exc)) from None
            built[kind].append(component)
    return built
