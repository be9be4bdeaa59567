"""Built-in sources: env, timestamp, platform, file, http, django_query."""

from __future__ import annotations

import csv
import fnmatch
import json
import os
import platform
import socket
import tomllib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from ..components import Source
from ..http_client import request
from ._http import declare_http_options, request_kwargs, session_for

_COERCE = {
    "str": str,
    "int": int,
    "float": float,
    "bool": lambda v: v.strip().lower() in {"1", "true", "yes", "on"},
    "json": json.loads,
}


class EnvSource(Source):
    """Environment variables matching ``include`` and not ``exclude`` (shell patterns)."""

    def declare_config(self, config):
        patterns = {"type": "array", "items": {"type": "string"}}
        config.add_option("include", default=["*"], optional=True, schema=patterns)
        config.add_option("exclude", default=[], optional=True, schema=patterns)
        config.add_option(
            "types",
            default={},
            optional=True,
            schema={"type": "object", "additionalProperties": {"enum": sorted(_COERCE)}},
        )

    def collect(self) -> dict[str, Any]:
        include, exclude = self.config.include.value, self.config.exclude.value
        types = self.config.types.value
        data = {}
        for key, value in sorted(os.environ.items()):
            if not any(fnmatch.fnmatchcase(key, p) for p in include):
                continue
            if any(fnmatch.fnmatchcase(key, p) for p in exclude):
                continue
            try:
                data[key] = _COERCE[types.get(key, "str")](value)
            except ValueError as exc:
                raise ValueError(f"{key} cannot be read as {types[key]}: {exc}") from None
        return data


class TimestampSource(Source):
    """The time of the run, in the formats asked for."""

    def declare_config(self, config):
        for key, default in (("epoch", True), ("iso8601", True), ("strftime", None)):
            schema = {"type": "boolean"} if key != "strftime" else {"type": ["string", "null"]}
            config.add_option(key, default=default, optional=True, schema=schema)

        def at_least_one(values):
            if not (values["epoch"] or values["iso8601"] or values["strftime"]):
                raise ValueError("enable at least one timestamp format")

        config.add_validator(at_least_one)

    def collect(self) -> dict[str, Any]:
        now = datetime.now(UTC)
        data: dict[str, Any] = {}
        if self.config.epoch.value:
            data["epoch"] = now.timestamp()
        if self.config.iso8601.value:
            data["iso8601"] = now.isoformat()
        if self.config.strftime.value:
            data["strftime"] = now.strftime(self.config.strftime.value)
        return data


class PlatformSource(Source):
    """Host, Python, CPU and memory figures from the standard library and /proc."""

    def collect(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "hostname": socket.gethostname(),
            "system": platform.system(),
            "release": platform.release(),
            "machine": platform.machine(),
            "python": platform.python_version(),
            "python_implementation": platform.python_implementation(),
            "cpu_count": os.cpu_count(),
        }
        if hasattr(os, "getloadavg"):
            data["load_average"] = list(os.getloadavg())
        meminfo = Path("/proc/meminfo")
        if meminfo.exists():
            figures = {}
            for line in meminfo.read_text().splitlines():
                name, _, rest = line.partition(":")
                if name in {"MemTotal", "MemAvailable", "SwapTotal", "SwapFree"}:
                    figures[name] = int(rest.split()[0]) * 1024
            data["memory_bytes"] = figures
        return data


class FileSource(Source):
    """A JSON, TOML or CSV file (rows as a list of dicts) read into the bundle."""

    def declare_config(self, config):
        config.add_option("path", schema={"type": "string", "minLength": 1})
        config.add_option(
            "format", default=None, optional=True, schema={"enum": [None, "json", "toml", "csv"]}
        )

    def collect(self) -> dict[str, Any]:
        path = Path(self.config.path.value)
        kind = self.config.format.value or path.suffix.lower().lstrip(".")
        text = path.read_text(encoding="utf-8")
        if kind == "json":
            data = json.loads(text)
            return data if isinstance(data, dict) else {"items": data}
        if kind == "toml":
            return tomllib.loads(text)
        if kind == "csv":
            return {"rows": list(csv.DictReader(text.splitlines()))}
        raise ValueError(f"{path}: unknown format {kind!r}; set format to json, toml or csv")


class HttpSource(Source):
    """GET a JSON document; retries on connection errors and 5xx, proxies from the environment,
    ``verify`` / ``cert`` for TLS, and a ``deadline`` for the whole request."""

    def declare_config(self, config):
        declare_http_options(config)
        config.add_option("retries", default=2, optional=True, schema={"type": "integer"})

    def collect(self) -> dict[str, Any]:
        kwargs = request_kwargs(self.config, {"Accept": "application/json"})
        retries = max(0, self.config.retries.value)
        with session_for(self.config, retries=retries, backoff=0.2) as session:
            reply = request(session, "GET", self.config.url.value, **kwargs)
            reply.raise_for_status()
            data = reply.json()
        return data if isinstance(data, dict) else {"items": data}


class DjangoQuerySource(Source):
    """Rows of a model (``model`` = "app_label.Model", ``fields``, ``filter``) or raw ``sql``."""

    def declare_config(self, config):
        config.add_option("model", default=None, optional=True, schema={"type": ["string", "null"]})
        config.add_option("fields", default=[], optional=True, schema={"type": "array"})
        config.add_option("filter", default={}, optional=True, schema={"type": "object"})
        config.add_option("sql", default=None, optional=True, schema={"type": ["string", "null"]})
        config.add_option("params", default=[], optional=True, schema={"type": "array"})
        config.add_option("using", default="default", optional=True, schema={"type": "string"})

        def model_or_sql(values):
            if bool(values["model"]) == bool(values["sql"]):
                raise ValueError("give either model or sql")

        config.add_validator(model_or_sql)

    def collect(self) -> dict[str, Any]:
        from django.apps import apps
        from django.core.serializers.json import DjangoJSONEncoder
        from django.db import connections

        if self.config.sql.value:
            with connections[self.config.using.value].cursor() as cursor:
                cursor.execute(self.config.sql.value, self.config.params.value)
                columns = [column[0] for column in cursor.description]
                rows = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
        else:
            model = apps.get_model(self.config.model.value)
            queryset = model.objects.using(self.config.using.value).filter(
                **self.config.filter.value
            )
            rows = list(queryset.values(*self.config.fields.value))
        # Dates, decimals and UUIDs become JSON values.
        return {"rows": json.loads(json.dumps(rows, cls=DjangoJSONEncoder))}
