"""``gather <collection> [--dry-run] [--since] [--until] [--dest DIR] [--key KEY] [--json]``.

Runs a gathering collection in the foreground with one progress line per event, then a summary
of keys and tarballs. Exit status 1 when the gather failed, partly failed or was refused.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError
from django.utils import timezone

from collector_app.gathering import (
    CollectionError,
    GathererConfigError,
    UnknownCollectionError,
    WindowError,
    gather,
)
from collector_app.gathering.results import DISABLED, OK, GatherResult
from collector_app.management.base import CollectorCommand


class Command(CollectorCommand):
    help = (
        "Gather a collection of COLLECTORS['GATHERERS']: run its registered functions over "
        "their windows, pack tarballs and ship them (a dry run keeps them in --dest instead)."
    )

    def add_arguments(self, parser) -> None:
        parser.add_argument("collection", help="a name in COLLECTORS['GATHERERS']")
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="ship nothing, touch no checkpoint; keep the tarballs in --dest (default: a "
            "new folder <collection>-dry-run-<time> in the current directory)",
        )
        parser.add_argument("--since", help="start of the window (ISO date or datetime)")
        parser.add_argument("--until", help="end of the window (default: now)")
        parser.add_argument("--dest", help="folder to keep the tarballs in (never emptied)")
        parser.add_argument(
            "--key", action="append", dest="keys", help="gather only this key (repeatable)"
        )
        self.add_json_argument(parser, help="print the result as JSON")

    def handle(self, *args: Any, **options: Any) -> None:
        name, as_json = options["collection"], options["json"]
        dest = options["dest"]
        if options["dry_run"] and not dest:
            dest = str(Path.cwd() / f"{name}-dry-run-{timezone.now():%Y%m%d-%H%M%S}")
        listener = None
        if not as_json and options["verbosity"] > 0:
            what = "dry run of" if options["dry_run"] else "gathering"
            self.stdout.write(f"{what} {name!r}" + (f" (tarballs kept in {dest})" if dest else ""))
            listener = self._progress
        try:
            result = gather(
                name,
                since=options["since"],
                until=options["until"],
                dry_run=options["dry_run"],
                dest=dest,
                keys=options["keys"],
                listener=listener,
            )
        except (
            UnknownCollectionError,
            GathererConfigError,
            CollectionError,
            WindowError,
            ValueError,
        ) as exc:
            raise CommandError(str(exc)) from exc
        if as_json:
            self.stdout.write(json.dumps(result.to_dict(), indent=2))
        else:
            self.stdout.write(format_result(result))
        if result.status not in (OK, DISABLED):
            raise CommandError(result.summary())

    def _progress(self, kind: str, message: str) -> None:
        self.stdout.write(f"  [{kind}] {message}")
        self.stdout.flush()


def format_result(result: GatherResult) -> str:
    """The keys (status, window, checkpoint) and tarballs (shipped, kept where) as text."""
    lines = [result.summary()]
    if result.until:
        since = result.since.isoformat() if result.since else "per-key checkpoints"
        lines.append(f"  window: {since} .. {result.until.isoformat()}")
    for key in result.keys.values():
        window = f"{key.since:%Y-%m-%d %H:%M} .. {key.until:%Y-%m-%d %H:%M}" if key.since else ""
        line = f"  key {key.key}: {key.status} {window}".rstrip()
        if key.full_sync:
            line += " (full sync)"
        if key.error:
            line += f": {key.error}"
        lines.append(line)
    for tarball in result.tarballs:
        state = "shipped" if tarball.shipped else ("kept" if result.dry_run else "NOT shipped")
        where = f" -> {tarball.path}" if tarball.path else ""
        lines.append(f"  tarball {tarball.name}: {state}, {tarball.size:,} bytes{where}")
    for error in result.errors:
        lines.append(f"  error: {error}")
    return "\n".join(lines)
