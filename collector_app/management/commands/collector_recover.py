"""``collector_recover``: fail pipeline and gather runs whose process was lost, by hand."""

from __future__ import annotations

from typing import Any

from collector_app.management.base import CollectorCommand
from collector_app.recovery import recover_runs


class Command(CollectorCommand):
    help = (
        "Mark failed ('process lost') the pipeline and gather runs still 'running' whose lease "
        "expired (their worker or command was killed). Workers and triggers_recover do this on "
        "every recovery pass; idempotent."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        repaired = recover_runs()
        for line in repaired:
            self.stdout.write(line)
        self.stdout.write(f"{len(repaired)} run(s) marked failed")
