from __future__ import annotations

from typing import Any

from triggers.management.base import TriggersCommand
from triggers.sessions import load_configuration, open_session


class Command(TriggersCommand):
    help = (
        "Create a trigger session, or replace its configuration, from a .json or .toml file "
        "(a mapping of task names to directives). A bad configuration changes nothing."
    )

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("uid", help="the session's uid")
        parser.add_argument("file", help="configuration file (.json or .toml)")
        parser.add_argument(
            "--storage", help="storage backend of a new session (default: TRIGGERS setting)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        manager = open_session(options["uid"], options["storage"], create=True)
        config = load_configuration(options["file"])
        manager.update_configuration(config)
        tasks = sorted(config)
        self.emit(
            options,
            {"uid": options["uid"], "storage": manager.storage.name, "tasks": tasks},
            f"session {options['uid']} ({manager.storage.name}): {len(tasks)} tasks configured: "
            + ", ".join(tasks),
        )
