from __future__ import annotations

from typing import Any

from triggers.management.base import TriggersCommand
from triggers.sessions import parse_age, purge_sessions


class Command(TriggersCommand):
    help = (
        "Delete sessions (any backend) untouched for longer than --older-than whose instances "
        "are all resolved. Sessions with unresolved instances are kept."
    )

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument(
            "--older-than", required=True, help="age such as 30d, 12h, 45m (a number means days)"
        )
        parser.add_argument("--dry-run", action="store_true", help="list, delete nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        purged = purge_sessions(parse_age(options["older_than"]), options["dry_run"])
        verb = "would purge" if options["dry_run"] else "purged"
        if not options["dry_run"]:
            for uid in purged:
                self.audit(
                    uid, "purge", detail=f"older than {options['older_than']}", flag="delete"
                )
        self.emit(
            options,
            {"purged": purged, "dry_run": options["dry_run"]},
            f"{verb} {len(purged)} sessions" + (": " + ", ".join(purged) if purged else ""),
        )
