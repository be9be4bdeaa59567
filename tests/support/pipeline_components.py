"""Components for pipeline tests that run in other processes too (COMPONENT_MODULES)."""

from __future__ import annotations

from collector_app.components import Aggregator, Source
from collector_app.registry import aggregator, source


@source.register("tests.pipe.kwargs")
class TriggerKwargs(Source):
    """Collects the trigger kwargs the pipeline was started with (or none)."""

    def collect(self):
        context = self.context
        return {"kwargs": dict(context.trigger_kwargs) if context is not None else {}}


@source.register("tests.pipe.constant")
class Constant(Source):
    def declare_config(self, config):
        config.add_option("value")

    def collect(self):
        if self.config.value.value == "fail":
            raise RuntimeError("asked to fail")
        return {"value": self.config.value.value}


@aggregator.register("tests.pipe.count")
class Count(Aggregator):
    def accumulate(self, data):
        data["count"] = {"sources": len(data)}


@source.register("tests.pipe.sleep")
class Sleep(Source):
    """Takes ``seconds``: a run that is still going when its next slot comes."""

    def declare_config(self, config):
        config.add_option("seconds", schema={"type": "number", "minimum": 0})

    def collect(self):
        import time

        time.sleep(self.config.seconds.value)
        return {"slept": self.config.seconds.value}
