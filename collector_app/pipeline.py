"""``Pipeline``: sources (concurrently), then aggregators (in order), then sinks (concurrently).

``Pipeline(definition, name).run()`` returns a ``Journal``: per component its status
(``passed``, ``failed``, ``skipped-optional``, ``timed-out``, ``not-run``), start, duration and
error (type, message and traceback, secrets masked), and the final ``data``. Where flowbber
stops, we go on cleanly:

* a failed required source fails the run and no aggregator or sink runs; when every source
  fails, the run fails;
* an aggregator works on a copy of the bundle, so a failed optional aggregator leaves it as
  it was (when every optional aggregator fails the sinks get the sources' data);
* every sink gets its own deep copy; a sink may declare ``retries`` with ``retry_backoff``;
* a component over its ``timeout`` fails (or is skipped if optional) and the run goes on.

Copies and the check that a source returned JSON use ``json_data.json_copy`` and
``json_data.check_json``: the same results as ``copy.deepcopy`` and ``json.dumps``, many times
faster on large JSON-shaped bundles (``bench/bench_pipeline.py``, ``docs/benchmarks.md``).
"""

from __future__ import annotations

import contextvars
import logging
import sys
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

from .components import Aggregator, Component, Sink
from .definition import PipelineDefinition, build_components, load_definition
from .json_data import check_json, json_copy
from .masking import Masker
from .timeouts import CallOutcome, call_with_timeout

PASSED, FAILED, SKIPPED, TIMED_OUT, NOT_RUN, RUNNING = (
    "passed",
    "failed",
    "skipped-optional",
    "timed-out",
    "not-run",
    "running",
)
DEFAULT_CONCURRENCY = 8
logger = logging.getLogger(__name__)

#: Called with a component's journal entry when it starts (status ``running``) and when it ends.
Listener = Callable[["JournalEntry"], None]


@dataclass
class JournalEntry:
    id: str
    type: str
    kind: str
    status: str = NOT_RUN
    start: str | None = None
    duration: float | None = None
    attempts: int = 0
    error_type: str | None = None
    error: str | None = None
    traceback: str | None = None


@dataclass
class Journal:
    pipeline: str
    status: str = PASSED
    start: str = ""
    duration: float = 0.0
    error: str | None = None
    entries: list[JournalEntry] = field(default_factory=list)
    data: OrderedDict[str, Any] = field(default_factory=OrderedDict)
    #: The definition's ``result``: ids whose data ``result()`` returns (``None``: all).
    result_ids: list[str] | None = None

    @property
    def passed(self) -> bool:
        return self.status == PASSED

    def entry(self, component_id: str) -> JournalEntry:
        return next(entry for entry in self.entries if entry.id == component_id)

    def result(self) -> dict[str, Any]:
        """The data a trigger task returns: all of it, or the ids the definition names."""
        if self.result_ids is None:
            return dict(self.data)
        return {key: self.data[key] for key in self.result_ids if key in self.data}

    def to_dict(self) -> dict[str, Any]:
        """The journal without the data: what is stored and shown.

        Built field by field: ``asdict`` would deep-copy the data only to drop it, and fail
        with ``RecursionError`` on a bundle nested a few hundred levels deep.
        """
        shown = {
            item.name: getattr(self, item.name) for item in fields(self) if item.name != "data"
        }
        shown["entries"] = [asdict(entry) for entry in self.entries]
        shown["result_ids"] = list(self.result_ids) if self.result_ids is not None else None
        return shown


def _now() -> str:
    return datetime.now(UTC).isoformat()


class Pipeline:
    """A validated pipeline, ready to run any number of times."""

    def __init__(
        self,
        definition: PipelineDefinition | str | Path | Mapping[str, Any],
        name: str | None = None,
        max_concurrency: int = DEFAULT_CONCURRENCY,
    ) -> None:
        if not isinstance(definition, PipelineDefinition):
            definition = load_definition(definition, name)
        self.definition = definition
        self.name = name or definition.name
        self.max_concurrency = max(1, int(max_concurrency))
        self.components = build_components(definition)
        for components in self.components.values():
            for component in components:
                component.pipeline_name = self.name  # part of the component's state key
        #: Every component's secrets: one component's error may quote another's secret.
        self.masker = Masker.for_pipeline(self)
        self._listener: Listener | None = None
        self._distribute = True

    def run(
        self, context: Any = None, *, distribute: bool = True, listener: Listener | None = None
    ) -> Journal:
        """Run once; ``context`` (a trigger task's, say) is given to every component.

        ``distribute=False`` runs sources and aggregators only (sinks stay ``not-run``), for
        trying a pipeline out; ``listener`` sees each entry start and end (a progress display).
        """
        for kind in ("sources", "aggregators", "sinks"):
            for component in self.components[kind]:
                component.context = context
        result_ids = self.definition.result
        journal = Journal(
            pipeline=self.name,
            start=_now(),
            result_ids=list(result_ids) if result_ids is not None else None,
        )
        started = time.monotonic()
        entries = {
            component.id: JournalEntry(component.id, component.type, component.kind)
            for kind in ("sources", "aggregators", "sinks")
            for component in self.components[kind]
        }
        journal.entries = list(entries.values())
        self._listener = listener
        self._distribute = distribute
        try:
            self._run(journal, entries)
        finally:
            journal.duration = round(time.monotonic() - started, 6)
        return journal

    # -- stages ---------------------------------------------------------------------------
    def _run(self, journal: Journal, entries: dict[str, JournalEntry]) -> None:
        sources = self.components["sources"]
        results = self._concurrently(sources, entries, lambda source: source.collect)
        bundle: OrderedDict[str, Any] = OrderedDict()
        for source in sources:
            entry = entries[source.id]
            if entry.status == PASSED:
                bundle[source.id] = results[source.id]
            elif not source.optional:
                journal.status = FAILED
                journal.error = f"required source {source.id!r} {entry.status}: {entry.error}"
        if journal.status == PASSED and not bundle:
            journal.status = FAILED
            journal.error = "every source failed: nothing to aggregate or distribute"
        if journal.status == FAILED:
            journal.data = bundle
            return

        for aggregator in self.components["aggregators"]:
            assert isinstance(aggregator, Aggregator)  # the aggregator registry holds no other
            working = json_copy(bundle)  # a failed aggregator must not leave half a change
            entry = entries[aggregator.id]
            self._call(aggregator, entry, partial(aggregator.accumulate, working))
            if entry.status == PASSED:
                bundle = working
            elif not aggregator.optional:
                journal.status = FAILED
                journal.error = f"required aggregator {aggregator.id!r} failed: {entry.error}"
                journal.data = bundle
                return
        journal.data = bundle
        if not self._distribute:
            return

        sinks = self.components["sinks"]
        self._concurrently(sinks, entries, lambda sink: partial(_distribute_copy, sink, bundle))
        failed = [
            sink.id for sink in sinks if entries[sink.id].status != PASSED and not sink.optional
        ]
        if failed:
            journal.status = FAILED
            journal.error = f"required sinks failed: {', '.join(failed)}"

    def _concurrently(self, components: list[Component], entries, make_call) -> dict[str, Any]:
        results: dict[str, Any] = {}
        if len(components) == 1 or self.max_concurrency == 1:  # no thread to wait for the call
            for component in components:  # each call still runs in a thread of its own
                outcome = self._call(component, entries[component.id], make_call(component))
                results[component.id] = outcome.value
            return results
        gate = threading.Semaphore(self.max_concurrency)
        threads = []

        def work(component: Component) -> None:
            with gate:
                outcome = self._call(component, entries[component.id], make_call(component))
                results[component.id] = outcome.value

        for component in components:
            context = contextvars.copy_context()  # the run's fence goes with every call
            thread = threading.Thread(target=context.run, args=(work, component), daemon=True)
            thread.start()
            threads.append(thread)
        for thread in threads:
            thread.join()  # each call inside is bounded by its own timeout
        return results

    def _call(self, component: Component, entry: JournalEntry, call) -> CallOutcome:
        attempts = 1 + (getattr(component, "retries", 0) if isinstance(component, Sink) else 0)
        backoff = float(getattr(component, "retry_backoff", 1.0))
        entry.start = _now()
        entry.status = RUNNING
        self._notify(entry)
        started = time.monotonic()
        outcome = CallOutcome()
        for attempt in range(1, attempts + 1):
            entry.attempts = attempt
            outcome = call_with_timeout(call, component.timeout, component.id)
            if outcome.error is None:
                outcome.error = _check_output(component, outcome.value)
            if outcome.error is None or outcome.timed_out:
                break
            if attempt < attempts:
                time.sleep(backoff * 2 ** (attempt - 1))
        entry.duration = round(time.monotonic() - started, 6)
        if outcome.error is None:
            entry.status = PASSED
        else:
            entry.status = (
                SKIPPED if component.optional else (TIMED_OUT if outcome.timed_out else FAILED)
            )
            entry.error_type = type(outcome.error).__name__
            entry.error = self.masker.text(str(outcome.error))
            entry.traceback = self.masker.text(outcome.traceback or "") or None
        self._notify(entry)
        return outcome

    def _notify(self, entry: JournalEntry) -> None:
        if self._listener is None:
            return
        try:
            self._listener(entry)
        except Exception:  # a broken progress display must not break the run
            logger.exception("pipeline %s: listener failed on %s", self.name, entry.id)


def _distribute_copy(sink: Sink, bundle: OrderedDict[str, Any]) -> None:
    sink.distribute(json_copy(bundle))  # a fresh copy for every sink and every attempt


def _check_output(component: Component, value: Any) -> Exception | None:
    if component.kind != "source":
        return None
    if not isinstance(value, dict):
        return TypeError(
            f"source {component.id!r} returned {type(value).__name__}; collect() returns a dict"
        )
    try:
        check_json(value)
    except RecursionError:
        return ValueError(
            f"source {component.id!r} returned data that is not JSON: nested too deep (more "
            f"than about {sys.getrecursionlimit()} levels of dicts and lists)"
        )
    except (TypeError, ValueError) as exc:
        return TypeError(f"source {component.id!r} returned data that is not JSON: {exc}")
    return None
