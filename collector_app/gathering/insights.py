"""insights-analytics-collector names its users import: ``CsvFileSplitter`` and ``slicing``.

``CsvFileSplitter`` is a file-like object a CSV gathering function writes into (for example with
``csv.writer`` or a database's ``COPY ... TO STDOUT``): the rows go to ``<filespec>_split0``,
``<filespec>_split1``, ... each starting with the header and closed once it reaches
``max_file_size`` characters; ``file_list()`` closes the last one and returns the paths (a single
file is renamed to ``<filespec>``; a last file with only the header is removed). Return that list
from the function. The engine also splits any CSV file over the limit itself
(``split_csv_file``), on row boundaries, so the splitter is only needed for code that has it.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from typing import Any, TypeVar

from .gatherer import Gatherer

F = TypeVar("F", bound=Callable[..., Any])


class CsvFileSplitter(io.StringIO):
    """Writes CSV text into files of about ``max_file_size`` characters each, header repeated."""

    def __init__(
        self,
        filespec: str | os.PathLike[str] | None = None,
        max_file_size: int = Gatherer.max_data_size,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__()
        if filespec is None:
            raise ValueError("CsvFileSplitter needs filespec: the path of the file to write")
        if max_file_size <= 0:
            raise ValueError(f"max_file_size must be positive, not {max_file_size!r}")
        self.filespec = os.fspath(filespec)
        self.max_file_size = max_file_size
        self.files: list[str] = []
        self.header: str | None = None
        self.counter = 0
        self.currentfile: io.TextIOWrapper | None = None
        self.cycle_file()

    def cycle_file(self) -> None:
        """Close the current file and open the next one, starting with the header."""
        if self.currentfile is not None:
            self.currentfile.close()
        name = f"{self.filespec}_split{len(self.files)}"
        self.currentfile = open(name, "w", encoding="utf-8", newline="")
        self.files.append(name)
        self.counter = 0
        if self.header is not None:
            self.counter += self.currentfile.write(f"{self.header}\n")

    def write(self, s: str) -> int:
        """Write ``s`` (whole rows); the first line written is the header."""
        if self.header is None:
            if "\n" not in s:
                raise ValueError("the first write must hold the whole header line")
            self.header = s[: s.index("\n")].rstrip("\r")
        assert self.currentfile is not None
        written = self.currentfile.write(s)
        self.counter += written
        if self.counter >= self.max_file_size:
            self.cycle_file()
        return written

    def file_list(self) -> list[str]:
        """Close the last file and return the paths written."""
        assert self.currentfile is not None
        self.currentfile.close()
        header_only = self.header is None or self.counter <= len(self.header) + 1
        if header_only and (len(self.files) > 1 or self.header is None):
            os.remove(self.files.pop())
        if len(self.files) == 1:
            os.replace(self.files[0], self.filespec)
            self.files = [self.filespec]
        return list(self.files)


def slicing(default: bool = False) -> Callable[[F], F]:
    """Marks a slicing function (insights' decorator); the marks are kept, nothing else changes:
    give the function to ``@register(..., fnc_slicing=...)`` as before."""

    def decorate(function: F) -> F:
        function.__insights_analytics_slicing_name__ = function.__name__  # type: ignore[attr-defined]
        function.__insights_analytics_slicing_default__ = default  # type: ignore[attr-defined]
        return function

    return decorate
