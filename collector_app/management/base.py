"""``CollectorCommand``: what every collector_app command shares.

* ``--json`` (``add_json_argument``): only JSON on stdout, for scripts;
* every error is **one line** on stderr, without a traceback: ``CommandError``, any
  ``CollectorsError`` and a wrong setting (``ImproperlyConfigured``);
* exit status **75** (``EX_TEMPFAIL``) while the collector is busy (``CollectorBusyError``,
  ``GatherLocked``), so cron or a scheduler simply tries again later; 1 for other errors.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError

from collector_app.exceptions import CollectorsError

EXIT_FAILED = 1
EXIT_BUSY = 75  # sysexits.h EX_TEMPFAIL


def one_line(message: object) -> str:
    """``message`` on one line: its non-blank lines joined by ``" | "``."""
    lines = [line.strip() for line in str(message).splitlines() if line.strip()]
    return " | ".join(lines)


def _busy_errors() -> tuple[type[Exception], ...]:
    from collector_app.gathering.locks import GatherLocked
    from collector_app.state.base import CollectorBusyError

    return (CollectorBusyError, GatherLocked)


class CollectorCommand(BaseCommand):
    """Base of collector_app's management commands (see the module docstring)."""

    def add_json_argument(self, parser: Any, help: str = "print only JSON on stdout, for scripts"):
        parser.add_argument("--json", action="store_true", help=help)

    def execute(self, *args: Any, **options: Any) -> Any:
        try:
            return super().execute(*args, **options)
        except CommandError as exc:
            if "\n" not in str(exc):
                raise
            raise CommandError(one_line(exc), returncode=exc.returncode) from exc
        except _busy_errors() as exc:
            raise CommandError(one_line(exc), returncode=EXIT_BUSY) from exc
        except (CollectorsError, ImproperlyConfigured) as exc:
            raise CommandError(one_line(exc), returncode=EXIT_FAILED) from exc
