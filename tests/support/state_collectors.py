"""Stateful collectors for the state tests, also run by ``run_collector`` in other processes.

``Counter`` is n6's example in miniature: load the state, do the work, save after each update.
Its config drives the tests: ``items`` to collect, ``crash_at`` (an item that raises, after the
earlier ones were saved), ``sleep`` (seconds inside the run, to overlap runs) and ``log`` (a
file that gets a ``start``/``end`` line per run, to see whether runs interleaved).
"""

from __future__ import annotations

import time
from pathlib import Path

from collector_app.components import Source
from collector_app.registry import source
from collector_app.state import StatefulCollectorMixin, StatefulTaskMixin
from triggers.task import TriggerTask


class Counter(StatefulCollectorMixin):
    def make_default_state(self):
        return {"runs": 0, "seen": []}

    def _log(self, word: str) -> None:
        if self.config.get("log"):
            with Path(self.config["log"]).open("a") as stream:
                stream.write(f"{word} {time.monotonic()}\n")

    def run(self) -> None:
        self._log("start")
        state = self.load_state()
        state["runs"] += 1
        time.sleep(self.config.get("sleep", 0))
        for item in self.config.get("items", []):
            if item == self.config.get("crash_at"):
                raise RuntimeError(f"crashed at item {item!r}")
            state["seen"].append(item)
            self.save_state(state)  # after each update: a crash resumes from here
        self.save_state(state)
        self._log("end")


class Strict(Counter):
    """Its state must be an object with an integer ``runs``: anything else stored is corrupt."""

    state_schema = {
        "type": "object",
        "required": ["runs", "seen"],
        "properties": {"runs": {"type": "integer"}, "seen": {"type": "array"}},
    }


class Failing(StatefulCollectorMixin):
    def run(self) -> None:
        self.load_state()
        raise RuntimeError("the feed is down")


class NotACollector:
    """Has no ``run``."""


@source.register("tests.state.counter")
class CountingSource(Source):
    """A pipeline component with state: counts its runs, remembers the last ``value``."""

    def declare_config(self, config):
        config.add_option("value", default="v", optional=True)
        config.add_option("token", default="", optional=True, secret=True)

    def make_default_state(self):
        return {"runs": 0}

    def collect(self):
        state = self.load_state()
        state["runs"] += 1
        state["value"] = self.config.value.value
        self.save_state(state)
        return dict(state)


class CountingTask(StatefulTaskMixin, TriggerTask):
    """A trigger task with state: how many times it ran in its session."""

    def make_default_state(self):
        return {"runs": 0}

    def _run(self, context):
        state = self.load_state()
        state["runs"] += 1
        self.save_state(state)
        return state
