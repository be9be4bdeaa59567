"""The task of the many-machines test: records a file and a push item on its own machine."""

from __future__ import annotations

import os

from collector_app.pushcollector import Collector
from triggers.task import TaskContext


def record(context: TaskContext) -> dict:
    machine = os.environ["MACHINE"]
    name = context.instance_name.replace("#", "-") + ".txt"
    with Collector.new_run(context.session_uid), Collector.get("local") as collector:
        collector.attach_file(name, f"{context.instance_name} on {machine}").result()
        item = {"filename": name, "state": "PUSHED", "origin": machine}
        collector.update_push_items([item]).result()
        path = collector.backend.path_of(name)
    return {"machine": machine, "path": str(path), "cwd": os.getcwd()}
