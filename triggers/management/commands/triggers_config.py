from __future__ import annotations

from typing import Any

from triggers.configuration import self_feeding_cycles
from triggers.management.base import TriggersCommand
from triggers.sessions import load_configuration, open_session


class Command(TriggersCommand):
    help = (
        "Create a trigger session, or add or replace tasks in it, from a .json or .toml file (a "
        "mapping of task names to directives). Tasks the file does not name stay, unless "
        "--replace. A bad configuration changes nothing."
    )

    def add_arguments(self, parser) -> None:
        super().add_arguments(parser)
        parser.add_argument("uid", help="the session's uid")
        parser.add_argument("file", help="configuration file (.json or .toml)")
        parser.add_argument(
            "--storage", help="storage backend of a new session (default: TRIGGERS setting)"
        )
        parser.add_argument(
            "--replace",
            action="store_true",
            help="remove the session's tasks that the file does not name",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        manager = open_session(options["uid"], options["storage"], create=True)
        config = load_configuration(options["file"])
        manager.update_configuration(config, replace=options["replace"])
        configured = manager.storage.tasks
        self.audit(
            options["uid"],
            "configure",
            detail=f"tasks {', '.join(sorted(config))}"
            + (" (replace)" if options["replace"] else ""),
        )
        for chain in self_feeding_cycles(configured):
            self.stderr.write(
                f"warning: task {chain[0]!r} feeds its own andEvery trigger "
                f"({' -> '.join(chain)}): it runs again after every completion until it skips "
                f"itself or fails (bounded by TRIGGERS['MAX_INSTANCES_PER_TASK'])"
            )
        tasks = sorted(config)
        self.emit(
            options,
            {
                "uid": options["uid"],
                "storage": manager.storage.name,
                "tasks": tasks,
                "all_tasks": sorted(configured),
                "self_feeding": self_feeding_cycles(configured),
            },
            f"session {options['uid']} ({manager.storage.name}): {len(tasks)} tasks configured: "
            + ", ".join(tasks)
            + (f" ({len(configured)} in the session)" if len(configured) != len(tasks) else ""),
        )
