"""Built-in sinks: print, json_file (atomic), http (POST JSON), django_model, archive."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

from ..components import Sink
from ..http_client import request
from ._http import declare_http_options, request_kwargs, session_for


class PrintSink(Sink):
    def declare_config(self, config):
        config.add_option("indent", default=2, optional=True, schema={"type": "integer"})

    def distribute(self, data) -> None:
        print(json.dumps(data, indent=self.config.indent.value, default=str), file=sys.stdout)


class JsonFileSink(Sink):
    """Writes the bundle to ``path`` atomically: a temporary file, fsynced, then renamed."""

    def declare_config(self, config):
        config.add_option("path", schema={"type": "string", "minLength": 1})
        config.add_option("indent", default=2, optional=True, schema={"type": ["integer", "null"]})

    def distribute(self, data) -> None:
        path = Path(self.config.path.value)
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
        try:
            with os.fdopen(handle, "w", encoding="utf-8") as stream:
                json.dump(data, stream, indent=self.config.indent.value, default=str)
                stream.flush()
                os.fsync(stream.fileno())
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


class HttpSink(Sink):
    """POSTs the bundle as JSON; a non-2xx answer fails the sink (``retries`` apply).

    Proxies come from the environment; ``verify`` / ``cert`` for TLS; ``deadline`` bounds each
    attempt as a whole (a server reading or answering slowly cannot hold it longer).
    """

    retries = 2

    def declare_config(self, config):
        declare_http_options(config)

    def distribute(self, data) -> None:
        kwargs = request_kwargs(self.config, {"Content-Type": "application/json"})
        body = json.dumps(data, default=str).encode("utf-8")
        with session_for(self.config) as session:
            reply = request(session, "POST", self.config.url.value, data=body, **kwargs)
            reply.raise_for_status()


class DjangoModelSink(Sink):
    """Creates one row of ``model`` with ``fields`` (column -> dotted path in the bundle)."""

    def declare_config(self, config):
        config.add_option("model", schema={"type": "string", "pattern": r"^\w+\.\w+$"})
        config.add_option(
            "fields", schema={"type": "object", "additionalProperties": {"type": "string"}}
        )
        config.add_option("using", default="default", optional=True, schema={"type": "string"})

    def distribute(self, data) -> None:
        from django.apps import apps

        from .aggregators import dotted_get

        model = apps.get_model(self.config.model.value)
        values: dict[str, Any] = {}
        for column, path in self.config.fields.value.items():
            try:
                values[column] = data if path == "." else dotted_get(data, path)
            except (KeyError, IndexError, ValueError):
                raise ValueError(f"field {column!r}: no value at {path!r}") from None
        model.objects.using(self.config.using.value).create(**values)


class ArchiveSink(Sink):
    """Records the run through a recorder (``collector_app.pushcollector``).

    The bundle is attached as a JSON file (``filename``); when ``push_items`` names a dotted
    path in the bundle holding a list of push items, they are recorded with ``update_push_items``
    (validated: one bad item and nothing of that batch is written).
    """

    def declare_config(self, config):
        config.add_option(
            "backend", default=None, optional=True, schema={"type": ["string", "null"]}
        )
        config.add_option(
            "filename",
            default="bundle.json",
            optional=True,
            schema={"type": "string", "minLength": 1},
        )
        config.add_option("attach", default=True, optional=True, schema={"type": "boolean"})
        config.add_option(
            "push_items", default=None, optional=True, schema={"type": ["string", "null"]}
        )

        def something_to_record(values):
            if not values["attach"] and not values["push_items"]:
                raise ValueError("nothing to record: set attach = true or give push_items")
            if values["backend"] is not None:
                from ..pushcollector.registry import resolve

                resolve(values["backend"])  # an unknown recorder fails before the run

        config.add_validator(something_to_record)

    def distribute(self, data) -> None:
        from ..pushcollector import Collector
        from .aggregators import dotted_get

        items = None
        if self.config.push_items.value:
            try:
                items = dotted_get(data, self.config.push_items.value)
            except (KeyError, IndexError, ValueError, TypeError):
                raise ValueError(
                    f"push_items: no value at {self.config.push_items.value!r}"
                ) from None
            if not isinstance(items, list):
                where = self.config.push_items.value
                raise ValueError(f"push_items: {where!r} holds {type(items).__name__}, not a list")
        with Collector.get(self.config.backend.value) as collector:
            futures = []
            if items is not None:
                futures.append(collector.update_push_items(items))
            if self.config.attach.value:
                body = json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False, default=str)
                futures.append(collector.attach_file(self.config.filename.value, body.encode()))
            for future in futures:
                future.result()  # a failed write fails the sink, with the recorder's own error
