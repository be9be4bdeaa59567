"""Writing CSV output in parts that never exceed a byte limit, each starting with the header.

A gathering function with ``format="csv"`` returns the paths of its parts; the parts are packed
into separate tarballs when they do not fit together, so every part must fit on its own. Rows
are streamed to disk: memory stays at one row, whatever the size of the output.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from ..exceptions import CollectorsError

ENCODING = "utf-8"


class CsvPartError(ValueError, CollectorsError):
    """A header or a row that cannot fit in a part of the allowed size."""


class _PartSink:
    """The file object ``csv.writer`` writes to: one ``write`` per row, rotated by size."""

    def __init__(self, writer: CsvPartWriter) -> None:
        self._writer = writer

    def write(self, text: str) -> int:
        self._writer._write_row(text.encode(ENCODING))
        return len(text)


class CsvPartWriter:
    """Write rows to ``<directory>/<key>.csv``, ``<key>_1.csv``, ... each at most ``max_bytes``.

    Use as a context manager; ``paths`` lists the parts written (none when no row came)::

        with CsvPartWriter(staging_dir, "events", max_data_size, ["id", "when"]) as out:
            out.writerows(rows)
        return out.paths
    """

    def __init__(
        self,
        directory: str | Path,
        key: str,
        max_bytes: int,
        header: Sequence[Any],
        **csv_options: Any,
    ) -> None:
        self.directory = Path(directory)
        self.key = key
        self.max_bytes = int(max_bytes)
        self.paths: list[Path] = []
        self.rows = 0
        buffer = io.StringIO()
        csv.writer(buffer, **csv_options).writerow(header)
        self._header = buffer.getvalue().encode(ENCODING)
        if len(self._header) >= self.max_bytes:
            raise CsvPartError(
                f"the CSV header of {key!r} is {len(self._header)} bytes, which leaves no room "
                f"for rows in a part of at most {self.max_bytes} bytes"
            )
        self._file: Any = None
        self._size = 0
        self._csv = csv.writer(_PartSink(self), **csv_options)

    def writerow(self, row: Iterable[Any]) -> None:
        self._csv.writerow(row)

    def writerows(self, rows: Iterable[Iterable[Any]]) -> None:
        self._csv.writerows(rows)

    def _write_row(self, data: bytes) -> None:
        if len(self._header) + len(data) > self.max_bytes:
            raise CsvPartError(
                f"row {self.rows + 1} of {self.key!r} is {len(data)} bytes: with the header it "
                f"does not fit in a part of at most {self.max_bytes} bytes"
            )
        if self._file is None or self._size + len(data) > self.max_bytes:
            self._next_part()
        self._file.write(data)
        self._size += len(data)
        self.rows += 1

    def _next_part(self) -> None:
        self._close_part()
        suffix = f"_{len(self.paths)}" if self.paths else ""
        path = self.directory / f"{self.key}{suffix}.csv"
        self.directory.mkdir(parents=True, exist_ok=True)
        self._file = open(path, "wb", buffering=1024 * 1024)
        self._file.write(self._header)
        self._size = len(self._header)
        self.paths.append(path)

    def _close_part(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def close(self) -> list[Path]:
        self._close_part()
        return self.paths

    def __enter__(self) -> CsvPartWriter:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def split_csv_file(path: str | Path, directory: str | Path, key: str, max_bytes: int) -> list[Path]:
    """Re-split an existing CSV file (header = its first row) into parts of ``max_bytes``.

    Parsed with ``csv`` so quoted fields holding newlines stay whole (a line-based split would
    cut them). For gathering functions that wrote one big file themselves.
    """
    with open(path, newline="", encoding=ENCODING) as source:
        reader = csv.reader(source)
        header = next(reader, None)
        if header is None:
            return []
        with CsvPartWriter(directory, key, max_bytes, header) as out:
            out.writerows(reader)
    return out.paths
