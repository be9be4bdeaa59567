"""``run_collector <name> [--json]``: one run of one configured collector, the way cron runs n6's.

Exit status: 0 when the run passed, 1 when it failed (or the name or its entry is wrong), 75
(``EX_TEMPFAIL``) when another run of the same collector holds its lock, so a scheduler can
simply try again later.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError

from collector_app.leases import MODES
from collector_app.management.base import EXIT_BUSY, EXIT_FAILED, CollectorCommand
from collector_app.pipelines.runner import run_configured

__all__ = ["EXIT_BUSY", "EXIT_FAILED", "Command"]


class Command(CollectorCommand):
    help = (
        "Run one configured collector once in the foreground (a class collector from "
        "COLLECTORS['CLASS_COLLECTORS'] or a pipeline from COLLECTORS['PIPELINES']) under its "
        "lock. Exit status 0: passed; 1: failed; 75: another run of it holds the lock."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("name", help="the collector's name in the settings")
        parser.add_argument(
            "--lock",
            choices=MODES,
            help="when another run holds the lock: wait for it or refuse at once "
            "(default: COLLECTORS['STATE_LOCK'])",
        )
        parser.add_argument(
            "--lock-timeout",
            type=float,
            metavar="SECONDS",
            help="how long --lock wait waits (default: COLLECTORS['STATE_LOCK_TIMEOUT'])",
        )
        self.add_json_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        name = options["name"]
        try:
            outcome = run_configured(name, mode=options["lock"], timeout=options["lock_timeout"])
        except (ValueError, ImportError) as exc:  # a wrong pipeline definition, say
            raise CommandError(str(exc), returncode=EXIT_FAILED) from exc
        if options["json"]:
            self.stdout.write(json.dumps(outcome.to_dict(), indent=2, default=str))
        for entry in outcome.entries:
            if entry.status != "passed":
                self.stderr.write(f"  {entry.id} ({entry.type}) {entry.status}: {entry.error}")
        if not outcome.passed:
            if outcome.traceback:
                self.stderr.write(outcome.traceback.rstrip())
            raise CommandError(
                f"collector {name!r} failed: {outcome.error}", returncode=EXIT_FAILED
            )
        if not options["json"]:
            self.stdout.write(
                f"collector {name!r} ({outcome.kind}) passed in {outcome.duration:.2f}s"
            )
