from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError

from triggers.admin_display import PER_PAGE, format_duration
from triggers.management.base import TriggersCommand
from triggers.models import TriggerSession
from triggers.session_index import refresh_summary
from triggers.sessions import instance_row, lost_data_message, open_session

RESULT_CHARS = 100


def table(
    headers: list[str], rows: list[list[str]], right: frozenset[int] = frozenset()
) -> list[str]:
    """Columns as wide as their longest cell, so long names never push the others out of line."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    lines = []
    for cells in [headers, *rows]:
        parts = [
            cell.rjust(widths[i]) if i in right else cell.ljust(widths[i])
            for i, cell in enumerate(cells)
        ]
        lines.append("  ".join(parts).rstrip())
    return lines


class Command(TriggersCommand):
    help = (
        "Show a session's instances, failed first, a page of 100 at a time (--page): status, "
        "duration, and the result or the error (a table, or --json). The traceback of failed "
        "instances is in --json, and printed with -v 2."
    )

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("uid", help="the session's uid")
        parser.add_argument(
            "--page",
            type=int,
            default=1,
            help=f"which page of {PER_PAGE} instances to show, failed first (default: 1)",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        manager = open_session(options["uid"])
        lost = lost_data_message(manager)
        if lost:
            raise CommandError(lost)
        summary = manager.storage.status_summary()  # from the backend's index: no instance read
        refresh_summary(TriggerSession.objects.get(uid=options["uid"]), counts=summary.counts)
        pages = max(1, -(-summary.total // PER_PAGE))
        page = options["page"]
        if not 1 <= page <= pages:
            raise CommandError(f"--page {page}: the session has {pages} page(s) of {PER_PAGE}")
        instances = manager.storage.instances_page((page - 1) * PER_PAGE, PER_PAGE)
        rows = [instance_row(inst) for inst in instances]
        cells, tracebacks = [], {}
        for row in rows:
            shown: Any = row["result"]
            if row["exc_type"]:
                shown = f"{row['exc_type']}: {row['exc_message']}"
            text = shown if isinstance(shown, str) else json.dumps(shown, default=str)
            if len(text) > RESULT_CHARS:
                text = text[: RESULT_CHARS - 1] + "…"
            cells.append([row["name"], row["status"], format_duration(row["duration"]), text])
            if row["traceback"] and row["status"] == "failed":
                tracebacks[row["name"]] = row["traceback"]
        lines = table(["instance", "status", "duration", "result / error"], cells, frozenset({2}))
        if options["verbosity"] >= 2:
            for name, tb in tracebacks.items():
                lines.append(f"\ntraceback of {name}:")
                lines.extend("  " + line for line in tb.rstrip().splitlines())
        elif tracebacks:
            lines.append(f"({len(tracebacks)} failed; -v 2 or --json shows the tracebacks)")
        if pages > 1:
            lines.append(
                f"page {page} of {pages} ({summary.total} instances, failed first; --page N)"
            )
        errors = manager.storage.metadata.get("errors", [])
        for error in errors:
            lines.append(f"session error at {error['time']}: {error['message']}")
        self.emit(
            options,
            {
                "uid": options["uid"],
                "instances": rows,
                "errors": errors,
                "counts": summary.counts,
                "total": summary.total,
                "page": page,
                "pages": pages,
            },
            "\n".join(lines),
        )
