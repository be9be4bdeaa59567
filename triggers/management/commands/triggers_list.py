from __future__ import annotations

from typing import Any

from triggers.management.base import TriggersCommand
from triggers.management.commands.triggers_status import table
from triggers.models import TriggerSession
from triggers.session_index import flush_pending_counts
from triggers.types import STATUSES


class Command(TriggersCommand):
    help = "List trigger sessions, most recently updated first, with their instance counts."

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--failed", action="store_true", help="only sessions with failed instances"
        )
        parser.add_argument(
            "--limit", type=int, default=50, help="at most this many sessions (default 50)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["limit"] < 1:
            raise ValueError(f"--limit {options['limit']}: give a number from 1 up")
        flush_pending_counts()  # counts staged in Redis by cache sessions
        sessions = TriggerSession.objects.order_by("-updated")
        if options["failed"]:
            sessions = sessions.filter(n_failed__gt=0)
        data: list[dict[str, Any]] = [
            {
                "uid": s.uid,
                "storage": s.storage,
                "created": s.created.isoformat(),
                "updated": s.updated.isoformat(),
                "unresolved": s.unresolved_count,
                "counts": s.status_counts,
            }
            for s in sessions[: options["limit"]]
        ]
        rows = [
            [
                d["uid"],
                d["storage"],
                d["updated"][:19].replace("T", " "),
                str(d["unresolved"]),
                ", ".join(f"{d['counts'][st]} {st}" for st in STATUSES if d["counts"][st]) or "-",
            ]
            for d in data
        ]
        lines = table(["session", "storage", "updated (UTC)", "unresolved", "instances"], rows,
                      frozenset({3}))  # fmt: skip
        if not rows:
            lines = ["no sessions" + (" with failed instances" if options["failed"] else "")]
        self.emit(options, {"sessions": data}, "\n".join(lines))
