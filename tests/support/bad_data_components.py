"""Components that hand the pipeline awkward data, for the bad-data tests."""

from __future__ import annotations

from collector_app.components import Source
from collector_app.registry import source


@source.register("tests.bad.deep")
class Deep(Source):
    """A bundle nested ``depth`` levels deep."""

    def declare_config(self, config):
        config.add_option("depth", default=500, optional=True)

    def collect(self):
        value: dict = {"leaf": 1}
        for _ in range(self.config.depth.value):
            value = {"nested": value}
        return {"deep": value}
