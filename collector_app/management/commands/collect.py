"""``collect <pipeline> [--dry-run | --test | --schedule] [--json]`` and ``collect --list``.

Thin: arguments and exit codes here, everything printed comes from ``collector_app.cli``.
"""

from __future__ import annotations

import json
import sys
from contextlib import nullcontext, redirect_stdout
from typing import Any

from django.core import checks
from django.core.management.base import CommandError, SystemCheckError
from django.db import DatabaseError

from collector_app import cli
from collector_app.management.base import CollectorCommand
from collector_app.pipeline import Pipeline
from collector_app.pipelines.runner import RunResult, run


class Command(CollectorCommand):
    help = (
        "Run a pipeline in the foreground with live progress and print its journal (exit "
        "status 1 when the run fails). PIPELINE is a .toml or .json file or a name in "
        "COLLECTORS['PIPELINES']."
    )

    def check(self, *args: Any, **kwargs: Any) -> None:
        """The system checks, as every command runs them; errors in one line (a missing
        component module is one line, not a block or a traceback)."""
        try:
            super().check(*args, **kwargs)
        except SystemCheckError:
            found = checks.run_checks(databases=kwargs.get("databases"))
            errors = [m for m in found if m.level >= checks.ERROR and not m.is_silenced()]
            raise CommandError("; ".join(f"{m.msg} ({m.id})" for m in errors)) from None

    def add_arguments(self, parser) -> None:
        parser.add_argument(
            "pipeline",
            nargs="?",
            help="a .toml/.json pipeline file, or a name in COLLECTORS['PIPELINES']",
        )
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--dry-run",
            action="store_true",
            help="validate the definition, plugins and options; run nothing",
        )
        mode.add_argument(
            "--test",
            action="store_true",
            help="run sources and aggregators, print the bundle; no sinks, not recorded",
        )
        mode.add_argument(
            "--schedule",
            action="store_true",
            help="run on the definition's [schedule] section (frequency, samples, start, "
            "stop_on_failure) in this process until done or interrupted; exit 1 if a run failed",
        )
        mode.add_argument(
            "--list",
            action="store_true",
            help="list the registered components and their options (with PIPELINE: its "
            "flowconf.py too)",
        )
        self.add_json_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        if options["list"]:
            return self._list(options)
        if not options["pipeline"]:
            raise CommandError("give a pipeline file or name (or --list)")
        try:
            pipeline = cli.open_pipeline(options["pipeline"])
        except cli.LOAD_ERRORS as exc:
            raise CommandError(str(exc)) from exc
        if options["dry_run"]:
            return self._dry_run(pipeline, options)
        if options["schedule"]:
            return self._schedule(pipeline, options)
        return self._run(pipeline, options)

    def _schedule(self, pipeline: Pipeline, options: dict[str, Any]) -> None:
        from collector_app.scheduling.scheduler import Scheduler

        spec = pipeline.definition.schedule
        if spec is None:
            raise CommandError(f"pipeline {pipeline.name!r} has no [schedule] section")
        masker = cli.Masker.for_pipeline(pipeline)

        def run_once() -> RunResult:
            result = _run_pipeline(pipeline)
            if not options["json"] and result.journal is not None:
                journal = result.journal
                self.stdout.write(cli.format_journal(journal, options["verbosity"], masker.text))
            return result

        try:
            scheduler = Scheduler(_Runner(run_once), **spec.scheduler_kwargs())
        except ValueError as exc:
            raise CommandError(f"pipeline {pipeline.name!r}: schedule: {exc}") from exc
        try:
            scheduler.run()
        except KeyboardInterrupt:
            scheduler.stop()
        runs = scheduler.runs
        if options["json"]:
            self.stdout.write(json.dumps({"pipeline": pipeline.name, "runs": runs}, indent=2))
        else:
            self.stdout.write(
                f"schedule of {pipeline.name!r}: {runs['passed']} passed, {runs['failed']} "
                f"failed, {runs['missed']} missed"
            )
        if runs["failed"]:
            raise CommandError(
                f"pipeline {pipeline.name!r}: {runs['failed']} scheduled run(s) failed"
            )

    def _list(self, options: dict[str, Any]) -> None:
        for error in cli.load_modules_for_listing(options["pipeline"]):
            self.stderr.write(error)
        described = cli.describe_components()
        if options["json"]:
            self.stdout.write(json.dumps(described, indent=2, default=str))
        else:
            self.stdout.write(cli.format_components(described))

    def _dry_run(self, pipeline: Pipeline, options: dict[str, Any]) -> None:
        if options["json"]:
            data = {"pipeline": pipeline.name, "valid": True, "components": cli.plan(pipeline)}
            self.stdout.write(json.dumps(data, indent=2, default=str))
        else:
            self.stdout.write(cli.format_plan(pipeline))

    def _run(self, pipeline: Pipeline, options: dict[str, Any]) -> None:
        as_json, test, verbosity = options["json"], options["test"], options["verbosity"]
        masker = cli.Masker.for_pipeline(pipeline)
        listener = None
        if not as_json and verbosity > 0:
            what = "testing (no sinks)" if test else "running"
            self.stdout.write(f"{what} pipeline {pipeline.name!r}")
            listener = cli.ProgressPrinter(self.stdout, masker.text)
        # With --json, whatever components print (the print sink) goes to stderr, so stdout
        # stays one JSON document.
        with redirect_stdout(sys.stderr) if as_json else nullcontext():
            result = _run_pipeline(
                pipeline, record=not test, distribute=not test, listener=listener
            )
        journal = result.journal
        assert journal is not None
        if as_json:
            self.stdout.write(json.dumps(cli.journal_dict(journal, masker), indent=2))
        else:
            self.stdout.write(cli.format_journal(journal, verbosity, masker.text))
            if test:
                self.stdout.write("bundle (sinks not run):")
                self.stdout.write(cli.format_bundle(journal.data, masker))
        if not journal.passed:
            raise CommandError(masker.text(f"pipeline {pipeline.name!r} failed: {journal.error}"))


def _run_pipeline(pipeline: Pipeline, **how: Any) -> RunResult:
    """``collector_app.run``: under the pipeline's lock, recorded unless ``record=False``."""
    try:
        return run(pipeline, **how)
    except DatabaseError as exc:  # the lock and the run history live in the database
        raise CommandError(
            f"pipeline {pipeline.name!r} was not run: the database refused its lock or its run "
            f"history row ({type(exc).__name__}: {exc}); is it migrated?"
        ) from exc


class _Runner:
    """What ``Scheduler`` runs: one recorded, printed run of the pipeline."""

    def __init__(self, run_once: Any) -> None:
        self.run = run_once
