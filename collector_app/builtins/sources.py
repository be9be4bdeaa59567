"""Built-in sources: env, timestamp, json, config (flowbber's names, options and output),
platform, file, http, django_query."""

from __future__ import annotations

import csv
import fnmatch
import io
import json
import os
import platform
import re
import socket
import tomllib
import zipfile
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from ..components import Source
from ..http_client import request
from ._http import declare_http_options, request_kwargs, session_for

_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}")


def booleanize(value: str) -> bool:
    """flowbber's booleans: ``true`` / ``yes`` and ``false`` / ``no``, any case; else an error."""
    words = {"true": True, "yes": True, "false": False, "no": False}
    if value.strip().lower() not in words:
        raise ValueError(f"{value!r} is not a boolean (true, yes, false, no)")
    return words[value.strip().lower()]


def iso8601(value: str) -> str:
    """An ISO 8601 time (``2019-08-05T14:38:13``), checked and kept as text (a bundle is JSON)."""
    if not _ISO_DATE.match(value.strip()):
        raise ValueError(f"{value!r} is not an ISO 8601 time (YYYY-MM-DD...)")
    return datetime.fromisoformat(value.strip()).isoformat()


def autocast(value: str) -> Any:
    """flowbber's ``auto``: an ISO 8601 time, else an int, a float, a boolean, else the text."""
    for cast in (iso8601, int, float, booleanize):
        try:
            return cast(value)
        except ValueError:
            continue
    return value


_COERCE: dict[str, Callable[[str], Any]] = {
    "str": str,
    "string": str,
    "int": int,
    "integer": int,
    "float": float,
    "bool": lambda v: v.strip().lower() in {"1", "true", "yes", "on"},
    "boolean": booleanize,
    "auto": autocast,
    "iso8601": iso8601,
    "json": json.loads,
}


class EnvSource(Source):
    """Environment variables matching ``include`` and not ``exclude`` (shell patterns), each
    read as its type in ``types`` (flowbber's names and ``int``, ``bool``, ``str``, ``json``);
    names lowercased with ``lowercase``."""

    def declare_config(self, config):
        patterns = {"type": "array", "items": {"type": "string"}}
        config.add_option("include", default=["*"], optional=True, schema=patterns)
        config.add_option("exclude", default=[], optional=True, schema=patterns)
        config.add_option("lowercase", default=False, optional=True, schema={"type": "boolean"})
        config.add_option(
            "types",
            default={},
            optional=True,
            schema={
                "type": ["object", "null"],
                "additionalProperties": {"enum": sorted(_COERCE)},
            },
        )

    def collect(self) -> dict[str, Any]:
        include, exclude = self.config.include.value, self.config.exclude.value
        types = self.config.types.value or {}
        lowercase = self.config.lowercase.value
        data = {}
        for key, value in sorted(os.environ.items()):
            if not any(fnmatch.fnmatchcase(key, p) for p in include):
                continue
            if any(fnmatch.fnmatchcase(key, p) for p in exclude):
                continue
            try:
                value = _COERCE[types.get(key, "str")](value)
            except ValueError as exc:
                raise ValueError(f"{key} cannot be read as {types[key]}: {exc}") from None
            data[key.lower() if lowercase else key] = value
        return data


class TimestampSource(Source):
    """The time of the run, as flowbber gives it: ``epoch`` (int), ``epochf`` (float),
    ``iso8601`` (to the second), ``strftime``, in ``timezone`` (hours from UTC; ``None``: local
    time), which the data repeats."""

    def declare_config(self, config):
        config.add_option(
            "timezone",
            default=None,
            optional=True,
            schema={"type": ["integer", "null"], "minimum": -12, "maximum": 12},
        )
        for key, default in (("epoch", True), ("epochf", False), ("iso8601", False)):
            config.add_option(key, default=default, optional=True, schema={"type": "boolean"})
        config.add_option(
            "strftime",
            default=None,
            optional=True,
            schema={"type": ["string", "null"], "minLength": 1},
        )

        def at_least_one(values):
            if not any(values[key] for key in ("epoch", "epochf", "iso8601", "strftime")):
                raise ValueError("enable at least one timestamp format")

        config.add_validator(at_least_one)

    def collect(self) -> dict[str, Any]:
        hours = self.config.timezone.value
        now = datetime.now(None if hours is None else timezone(timedelta(hours=hours)))
        data: dict[str, Any] = {"timezone": hours}
        if self.config.epoch.value:
            data["epoch"] = int(now.timestamp())
        if self.config.epochf.value:
            data["epochf"] = now.timestamp()
        if self.config.iso8601.value:
            data["iso8601"] = now.replace(microsecond=0).isoformat()
        if self.config.strftime.value:
            data["strftime"] = now.strftime(self.config.strftime.value)
        return data


class JsonSource(Source):
    """flowbber's ``json``: a JSON document from ``file_uri`` (a path, ``file://`` or
    ``http(s)://``); with ``extract``, the one file inside a Zip archive (``archive``'s
    ``compress``). Proxies from the environment; ``verify_ssl = false`` skips TLS checks."""

    def declare_config(self, config):
        text = {"type": "string", "minLength": 1}
        flag = {"type": "boolean"}
        config.add_option("file_uri", schema=text)
        config.add_option("encoding", default="utf-8", optional=True, schema=text)
        config.add_option("ordered", default=True, optional=True, schema=flag)
        config.add_option("verify_ssl", default=True, optional=True, schema=flag)
        config.add_option("extract", default=False, optional=True, schema=flag)

    def collect(self) -> dict[str, Any]:
        uri = self.config.file_uri.value
        scheme, _, rest = uri.partition("://") if "://" in uri else ("file", "", uri)
        if scheme == "file":
            content = Path(rest).read_bytes()
        elif scheme in {"http", "https"}:
            import requests

            with requests.Session() as session:
                reply = request(
                    session,
                    "GET",
                    uri,
                    deadline=60.0,
                    timeout=31.0,
                    verify=self.config.verify_ssl.value,
                )
                reply.raise_for_status()
                content = reply.content
        else:
            raise ValueError(f"file_uri: unsupported scheme {scheme!r} (file, http, https)")
        if self.config.extract.value:
            with zipfile.ZipFile(io.BytesIO(content)) as archive:
                names = archive.namelist()
                if len(names) != 1:
                    raise ValueError(f"{uri}: a Zip archive with one file expected, not {names}")
                content = archive.read(names[0])
        data = json.loads(content.decode(self.config.encoding.value))
        return data if isinstance(data, dict) else {"items": data}


class ConfigSource(Source):
    """flowbber's ``config``: the static ``data`` table of the definition, as given."""

    def declare_config(self, config):
        config.add_option("data", schema={"type": "object", "minProperties": 1})

    def collect(self) -> dict[str, Any]:
        return self.config.data.value


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
