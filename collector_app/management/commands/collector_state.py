"""``collector_state list | show <collector> | reset <collector>``.

``<collector>`` is a collector's name (every configuration of it), a state key (one of
them) or a pipeline's name (its components' states). ``show`` prints JSON and exits 1 when a
stored state is corrupt; ``reset`` asks first (``--no-input`` does not) and refuses, with
exit status 75, while the collector runs.
"""

from __future__ import annotations

import json
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import CommandError

from collector_app.management.base import CollectorCommand
from collector_app.pipelines.configured import configured_collectors
from collector_app.state import CollectorBusyError, get_state_store
from collector_app.state.base import StateRecord
from collector_app.state.maintenance import collector_of, document, matching, reset_record

EXIT_BUSY = 75


class Command(CollectorCommand):
    help = "List, show or reset what collectors remember between runs (their state)."

    def add_arguments(self, parser) -> None:
        actions = parser.add_subparsers(dest="action", required=True, metavar="list|show|reset")
        actions.add_parser("list", help="every stored state: key, collector, version, updated")
        show = actions.add_parser("show", help="print a collector's stored state(s) as JSON")
        show.add_argument("collector", help="a collector name, a state key or a pipeline name")
        reset = actions.add_parser(
            "reset", help="forget a collector's stored state(s): the next run starts afresh"
        )
        reset.add_argument("collector", help="a collector name, a state key or a pipeline name")
        reset.add_argument(
            "--no-input",
            "--noinput",
            action="store_false",
            dest="interactive",
            help="do not ask for a confirmation",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        store = get_state_store()
        if options["action"] == "list":
            return self._list(store.list())
        records = self._find(store.list(), options["collector"])
        if options["action"] == "show":
            return self._show(store, records)
        return self._reset(store, records, options["interactive"])

    def _list(self, records: list[StateRecord]) -> None:
        for record in records:
            updated = record.updated.isoformat(timespec="seconds") if record.updated else "-"
            problem = f"  CORRUPT: {record.error}" if record.error else ""
            self.stdout.write(
                f"{record.key}  collector={collector_of(record)}  version={record.version}  "
                f"updated={updated}{problem}"
            )
        if not records:
            self.stdout.write("no stored state")

    def _find(self, records: list[StateRecord], target: str) -> list[StateRecord]:
        found = matching(records, target)
        if found:
            return found
        try:
            configured = target in configured_collectors()
        except ImproperlyConfigured as exc:
            raise CommandError(str(exc)) from exc
        if configured:
            self.stderr.write(
                f"nothing stored for collector {target!r}: its next run starts from its "
                f"default state"
            )
            return []
        stored = sorted({collector_of(record) for record in records})
        raise CommandError(
            f"no stored state of {target!r} (a collector name, state key or pipeline name); "
            f"stored collectors: {', '.join(stored) or 'none'}"
        )

    def _show(self, store, records: list[StateRecord]) -> None:
        shown = {record.key: document(store, record) for record in records}
        self.stdout.write(json.dumps(shown, indent=2, ensure_ascii=False))
        corrupt = [key for key, item in shown.items() if "error" in item]
        if corrupt:
            raise CommandError(f"corrupt stored state: {', '.join(corrupt)} (see 'error')")

    def _reset(self, store, records: list[StateRecord], interactive: bool) -> None:
        if not records:
            return
        keys = "\n".join(f"  {record.key}" for record in records)
        if interactive:
            answer = input(
                f"This forgets these stored states; the next runs start from the default "
                f"state:\n{keys}\nType 'yes' to continue, or 'no' to cancel: "
            )
            if answer != "yes":
                raise CommandError("reset cancelled")
        for record in records:
            try:
                done = reset_record(store, record)
            except CollectorBusyError as exc:
                raise CommandError(
                    f"{exc}: try again once it is done", returncode=EXIT_BUSY
                ) from exc
            self.stdout.write(f"reset {record.key}" if done else f"{record.key} was already gone")
