"""One escaped HTML table for read-only admin fields (journals, gather keys, tarballs)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString


def html_table(headers: Sequence[str], rows: Iterable[Sequence[Any]]) -> SafeString:
    head = format_html_join("", "<th>{}</th>", ((header,) for header in headers))
    cells = "".join("<td>{}</td>" for _ in headers)
    body = format_html_join("", f"<tr>{cells}</tr>", rows)
    return format_html("<table><tr>{}</tr>{}</table>", head, body)
