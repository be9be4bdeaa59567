from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError

from triggers.management.base import TriggersCommand
from triggers.models import TriggerSession
from triggers.registry import refresh_summary
from triggers.sessions import instance_row, lost_data_message, open_session, sorted_instances


class Command(TriggersCommand):
    help = "Show a session's instances: status, duration and result (a table, or --json)."

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("uid", help="the session's uid")

    def handle(self, *args: Any, **options: Any) -> None:
        manager = open_session(options["uid"])
        lost = lost_data_message(manager)
        if lost:
            raise CommandError(lost)
        rows = [instance_row(inst) for inst in sorted_instances(manager)]
        refresh_summary(TriggerSession.objects.get(uid=options["uid"]), manager.storage)
        lines = [f"{'instance':<24}{'status':<11}{'seconds':>9}  result"]
        for row in rows:
            seconds = f"{row['duration']:.3f}" if row["duration"] is not None else "-"
            shown = row["result"]
            if row["status"] == "failed":
                shown = f"{row['exc_type']}: {row['exc_message']}"
            text = json.dumps(shown, default=str) if not isinstance(shown, str) else shown
            lines.append(f"{row['name']:<24}{row['status']:<11}{seconds:>9}  {text[:80]}")
        errors = manager.storage.metadata.get("errors", [])
        for error in errors:
            lines.append(f"session error at {error['time']}: {error['message']}")
        self.emit(
            options,
            {"uid": options["uid"], "instances": rows, "errors": errors},
            "\n".join(lines),
        )
