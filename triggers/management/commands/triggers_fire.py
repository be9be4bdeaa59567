from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError

from triggers.exceptions import DispatchError
from triggers.management.base import TriggersCommand
from triggers.sessions import open_session, parse_json_object, unused_trigger_warning


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
        trigger = options["trigger"]
        try:
            scheduled = manager.fire(trigger, kwargs)
        except DispatchError as exc:
            raise CommandError(
                f"trigger {trigger!r} was recorded in session {options['uid']}, but {exc.detail}"
            ) from exc
        warning = unused_trigger_warning(manager, trigger)
        if warning:
            self.stderr.write(f"warning: {warning}")
        self.audit(options["uid"], "fire", scheduled, f"trigger {trigger!r}")
        self.emit(
            options,
            {"uid": options["uid"], "trigger": options["trigger"], "scheduled": scheduled},
            f"fired {options['trigger']!r} into {options['uid']}; scheduled: "
            + (", ".join(scheduled) or "nothing"),
        )
