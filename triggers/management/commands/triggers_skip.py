from __future__ import annotations

from typing import Any

from triggers.management.base import TriggersCommand
from triggers.sessions import open_session, parse_json_object


class Command(TriggersCommand):
    help = (
        "Skip a failed instance. With --cascade, its task's trigger fires with --result (a JSON "
        "object) as if it had finished."
    )

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("uid", help="the session's uid")
        parser.add_argument("instance", help="the failed instance, e.g. t_import#0")
        parser.add_argument("--cascade", action="store_true", help="fire the task's trigger")
        parser.add_argument("--result", help="the result to fire with --cascade, a JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        result = parse_json_object(options["result"], "--result")
        manager = open_session(options["uid"])
        manager.skip_failed_instance(options["instance"], options["cascade"], result)
        cascade = "with cascade" if options["cascade"] else "without cascade"
        self.audit(options["uid"], "skip", [options["instance"]], cascade)
        self.emit(
            options,
            {"uid": options["uid"], "skipped": options["instance"], "cascade": options["cascade"]},
            f"{options['instance']} skipped"
            + (" and its trigger fired" if options["cascade"] else ""),
        )
