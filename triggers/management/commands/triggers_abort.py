from __future__ import annotations

from typing import Any

from triggers.management.base import TriggersCommand
from triggers.sessions import open_session


class Command(TriggersCommand):
    help = (
        "Abort a scheduled or running instance that is stuck: it becomes 'failed' (Aborted, with "
        "the reason), so it can be replayed or skipped; its job, if it still comes, does nothing."
    )

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("uid", help="the session's uid")
        parser.add_argument("instance", help="the stuck instance, e.g. t_import#0")
        parser.add_argument("--reason", default="", help="why, kept on the instance")

    def handle(self, *args: Any, **options: Any) -> None:
        manager = open_session(options["uid"])
        inst = manager.abort_instance(options["instance"], options["reason"])
        self.audit(options["uid"], "abort", [inst.name], options["reason"])
        self.emit(
            options,
            {"uid": options["uid"], "aborted": inst.name, "status": inst.status},
            f"{inst.name} aborted (now {inst.status}); replay or skip it to go on",
        )
