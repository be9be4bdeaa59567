"""Built-in sinks: print, json_file (atomic), http (POST JSON), django_model, record (through
a recorder) and flowbber's archive (a JSON file, maybe zipped).

``print``, ``json_file``, ``http`` and ``archive`` take flowbber's ``include`` / ``exclude``
filters (``FilterSink``).
"""

from __future__ import annotations

import io
import json
import os
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from ..components import FilterSink, Sink
from ..http_client import request
from ._http import declare_http_options, request_kwargs, session_for


class PrintSink(FilterSink):
    def declare_config(self, config):
        super().declare_config(config)
        config.add_option("indent", default=2, optional=True, schema={"type": "integer"})

    def distribute(self, data) -> None:
        super().distribute(data)
        print(json.dumps(data, indent=self.config.indent.value, default=str), file=sys.stdout)


class JsonFileSink(FilterSink):
    """Writes the bundle to ``path`` atomically: a temporary file, fsynced, then renamed."""

    def declare_config(self, config):
        super().declare_config(config)
        config.add_option("path", schema={"type": "string", "minLength": 1})
        config.add_option("indent", default=2, optional=True, schema={"type": ["integer", "null"]})

    def distribute(self, data) -> None:
        super().distribute(data)
        path = Path(self.config.path.value)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = json.dumps(data, indent=self.config.indent.value, default=str)
        write_atomically(path, text.encode("utf-8"))


def write_atomically(path: Path, content: bytes) -> None:
    """``path`` holds ``content`` whole or is left as it was: a temporary file, fsynced, then
    renamed over it."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(handle, "wb") as stream:
            stream.write(content)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


class ArchiveSink(FilterSink):
    """flowbber's ``archive``: the bundle as a JSON file at ``output`` (compact, or indented by 4
    with ``pretty``); with ``compress``, a Zip archive ``<output>.zip`` holding ``<output>``.

    An existing file is an error unless ``override``; parent folders are created unless
    ``create_parents = false``. Written atomically (flowbber wrote in place).
    """

    def declare_config(self, config):
        super().declare_config(config)
        text = {"type": "string", "minLength": 1}
        flag = {"type": "boolean"}
        config.add_option("output", schema=text)
        config.add_option("encoding", default="utf-8", optional=True, schema=text)
        config.add_option("override", default=False, optional=True, schema=flag)
        config.add_option("create_parents", default=True, optional=True, schema=flag)
        config.add_option("pretty", default=False, optional=True, schema=flag)
        config.add_option("compress", default=False, optional=True, schema=flag)

        def known_encoding(values):
            import codecs

            codecs.lookup(values["encoding"])  # LookupError names the encoding

        config.add_validator(known_encoding)

    def distribute(self, data) -> None:
        super().distribute(data)
        output = Path(self.config.output.value)
        if self.config.compress.value and output.suffix != ".zip":
            output = output.with_name(f"{output.name}.zip")
        if output.is_file() and not self.config.override.value:
            raise FileExistsError(f"File {output} already exists (set override = true)")
        if self.config.create_parents.value:
            output.parent.mkdir(parents=True, exist_ok=True)
        if not output.parent.is_dir():
            raise FileNotFoundError(f"No such directory {output.parent}")
        if self.config.pretty.value:
            text = json.dumps(data, ensure_ascii=False, indent=4)
        else:
            text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
        content = text.encode(self.config.encoding.value)
        if self.config.compress.value:
            buffer = io.BytesIO()
            with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
                archive.writestr(output.stem, content)
            content = buffer.getvalue()
        write_atomically(output, content)


class HttpSink(FilterSink):
    """POSTs the bundle as JSON; a non-2xx answer fails the sink (``retries`` apply).

    Proxies come from the environment; ``verify`` / ``cert`` for TLS; ``deadline`` bounds each
    attempt as a whole (a server reading or answering slowly cannot hold it longer).
    """

    retries = 2

    def declare_config(self, config):
        super().declare_config(config)
        declare_http_options(config)

    def distribute(self, data) -> None:
        super().distribute(data)
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


class RecordSink(Sink):
    """Records the run through a recorder (``collector_app.recording``); was ``archive``.

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
                from ..recording.registry import resolve

                resolve(values["backend"])  # an unknown recorder fails before the run

        config.add_validator(something_to_record)

    def distribute(self, data) -> None:
        from ..recording import Collector
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
