from __future__ import annotations

from typing import Any

from triggers.management.base import TriggersCommand
from triggers.sessions import open_session, parse_json_object


class Command(TriggersCommand):
    help = "Fire a trigger into a session; prints the instances it scheduled."

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("uid", help="the session's uid")
        parser.add_argument("trigger", help="the trigger's name")
        parser.add_argument("--kwargs", help="the trigger's kwargs, a JSON object")

    def handle(self, *args: Any, **options: Any) -> None:
        kwargs = parse_json_object(options["kwargs"], "--kwargs")
        manager = open_session(options["uid"])
        scheduled = manager.fire(options["trigger"], kwargs)
        self.audit(options["uid"], "fire", scheduled, f"trigger {options['trigger']!r}")
        self.emit(
            options,
            {"uid": options["uid"], "trigger": options["trigger"], "scheduled": scheduled},
            f"fired {options['trigger']!r} into {options['uid']}; scheduled: "
            + (", ".join(scheduled) or "nothing"),
        )
