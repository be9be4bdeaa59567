"""``collector_schedule list|enable|disable|run|sync|import``: thin wrappers over ``schedules``."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError

from collector_app.management.base import CollectorCommand
from collector_app.models import PipelineSchedule
from collector_app.scheduling import schedules


class Command(CollectorCommand):
    help = "List, enable, disable or run pipeline schedules now; re-arm lost ones with sync."

    def add_arguments(self, parser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="every schedule with its counters")
        self.add_json_argument(listing)
        for name, text in (
            ("enable", "enable schedules (arms their next slot)"),
            ("disable", "disable schedules (a run in progress finishes)"),
            ("run", "enqueue one run of each schedule now"),
        ):
            sub.add_parser(name, help=text).add_argument("names", nargs="+", metavar="NAME")
        sub.add_parser("sync", help="re-arm enabled schedules whose next slot job is gone")
        importing = sub.add_parser(
            "import",
            help="create or update a schedule from the [schedule] section of a pipeline in "
            "COLLECTORS['PIPELINES'] (flowbber's definitions), and arm it",
        )
        importing.add_argument("pipeline", metavar="PIPELINE")
        importing.add_argument("--name", help="the schedule's name (default: the pipeline's)")

    def handle(self, *args: Any, action: str, **options: Any) -> None:
        if action == "list":
            return self._list(options["json"])
        if action == "import":
            return self._import(options["pipeline"], options["name"])
        if action == "sync":
            rearmed = schedules.sync()
            self.stdout.write(
                f"re-armed: {', '.join(s.name for s in rearmed)}" if rearmed else "all armed"
            )
            return None
        names = options["names"]
        missing = sorted(set(names) - set(PipelineSchedule.objects.values_list("name", flat=True)))
        if missing:
            raise CommandError(f"no pipeline schedule named {', '.join(map(repr, missing))}")
        for name in names:
            if action == "run":
                job = schedules.run_now(name)
                self.stdout.write(f"{name}: run enqueued (job {job.id})")
            else:
                schedule = schedules.set_enabled(name, action == "enable")
                nxt = (
                    f", next run {schedule.next_run:%Y-%m-%d %H:%M:%S%z}"
                    if schedule.next_run
                    else ""
                )
                self.stdout.write(f"{name}: {action}d{nxt}")
        return None

    def _import(self, pipeline: str, name: str | None) -> None:
        from collector_app.definition import DefinitionError
        from collector_app.runs import UnknownPipelineError
        from collector_app.scheduling.spec import ScheduleError, import_schedule

        try:
            schedule = import_schedule(pipeline, name)
        except (ScheduleError, DefinitionError, UnknownPipelineError) as exc:
            raise CommandError(str(exc)) from exc
        nxt = f", next run {schedule.next_run:%Y-%m-%d %H:%M:%S%z}" if schedule.next_run else ""
        self.stdout.write(
            f"{schedule.name}: every {schedule.frequency:g}s from pipeline {pipeline!r}{nxt}"
        )

    def _list(self, as_json: bool) -> None:
        rows = [
            {
                "name": s.name,
                "pipeline": s.pipeline,
                "enabled": s.enabled,
                "when": f"every {s.frequency:g}s" if s.frequency else f"cron {s.cron}",
                "passed": s.passed,
                "failed": s.failed,
                "missed": s.missed,
                "last_run": s.last_run.isoformat() if s.last_run else None,
                "last_status": s.last_status,
                "next_run": s.next_run.isoformat() if s.next_run else None,
            }
            for s in PipelineSchedule.objects.all()
        ]
        if as_json:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        if not rows:
            self.stdout.write("no schedules")
            return
        columns = list(rows[0])
        table = [columns] + [["-" if r[c] is None else str(r[c]) for c in columns] for r in rows]
        widths = [max(len(line[i]) for line in table) for i in range(len(columns))]
        for line in table:
            self.stdout.write(
                "  ".join(cell.ljust(w) for cell, w in zip(line, widths, strict=True)).rstrip()
            )
