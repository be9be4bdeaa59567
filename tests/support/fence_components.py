"""A careless component for the run-fence tests: it swallows every exception, the timeout too."""

from __future__ import annotations

import time

from collector_app.components import Source
from collector_app.pushcollector import Collector
from collector_app.registry import source

#: What the stubborn source did, by test: saves that went through, writes that were refused.
LOG: dict[str, list] = {"saved": [], "refused": [], "recorded": []}


@source.register("tests.fence.stubborn")
class Stubborn(Source):
    """Saves its state (and records a push item) in a loop for ``seconds``, whatever happens."""

    def declare_config(self, config):
        config.add_option("seconds", default=1.5, optional=True)

    def collect(self):
        deadline = time.monotonic() + self.config.seconds.value
        n = 0
        while time.monotonic() < deadline:
            n += 1
            try:
                for _ in range(20_000):  # pure Python: the timeout's interrupt lands here
                    pass
                time.sleep(0.005)
                self.save_state({"n": n})
                LOG["saved"].append(n)
                Collector.get("dummy").update_push_items([{"filename": f"{n}", "state": "PUSHED"}])
                LOG["recorded"].append(n)
            except Exception as exc:  # careless on purpose: ComponentTimeout too
                LOG["refused"].append(f"{type(exc).__name__}: {exc}")
        return {"n": n}
