from __future__ import annotations

from typing import Any

from triggers.management.base import TriggersCommand
from triggers.sessions import open_session, parse_json_object


class Command(TriggersCommand):
    help = (
        "Replay a failed instance: it becomes 'replayed' and a clone (depth + 1) runs instead, "
        "optionally with replacement kwargs (trigger name -> kwargs)."
    )

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("uid", help="the session's uid")
        parser.add_argument("instance", help="the failed instance, e.g. t_import#0")
        parser.add_argument("--kwargs", help="replacement kwargs, a JSON object")
        parser.add_argument(
            "--here",
            action="store_true",
            help="run the clone (and the tasks it fires) in this process, not on a worker",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        replacement = parse_json_object(options["kwargs"], "--kwargs")
        manager = open_session(options["uid"])
        if options["here"]:
            manager.runner = "sync"
        clone = manager.replay_failed_instance(options["instance"], replacement)
        clone = manager.storage[clone.name]
        detail = f"as {clone.name}, kwargs " + ("replaced" if replacement is not None else "kept")
        self.audit(options["uid"], "replay", [options["instance"]], detail)
        self.emit(
            options,
            {
                "uid": options["uid"],
                "replayed": options["instance"],
                "clone": clone.name,
                "status": clone.status,
            },
            f"{options['instance']} replayed as {clone.name} ({clone.status})",
        )
