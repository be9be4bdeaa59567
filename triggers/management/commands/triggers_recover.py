from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError

from triggers.management.base import TriggersCommand
from triggers.recovery import recover


class Command(TriggersCommand):
    help = (
        "Repair what crashed workers left behind: fail instances whose worker died (they can "
        "then be replayed) and re-enqueue scheduled instances whose job was lost; then let "
        "other apps repair their runs (triggers.signals.recovery_pass). Idempotent; safe to "
        "run from cron while workers run."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = recover()
        if options.get("json"):
            self.emit(options, report.__dict__, "")
            if report.errors:
                raise CommandError("; ".join(report.errors))
            return
        for where in report.failed:
            self.stdout.write(f"failed (worker lost or undeliverable): {where}")
        for where in report.requeued:
            self.stdout.write(f"re-enqueued: {where}")
        for line in report.repaired:
            self.stdout.write(line)
        self.stdout.write(report.summary())
        if report.errors:
            raise CommandError("; ".join(report.errors))
