"""What every ``triggers_*`` command shares: ``--json`` output and one-line errors."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from redis.exceptions import RedisError

from triggers.exceptions import TriggersError


class TriggersCommand(BaseCommand):
    """Library and Redis errors become a ``CommandError`` (one line on stderr, exit status 1)."""

    json_option = True

    def add_arguments(self, parser) -> None:
        if self.json_option:
            parser.add_argument("--json", action="store_true", help="print JSON for scripts")

    def execute(self, *args: Any, **options: Any) -> Any:
        try:
            return super().execute(*args, **options)
        except CommandError:
            raise
        except (LookupError, ValueError, TriggersError) as exc:
            plain_key_error = isinstance(exc, KeyError) and not isinstance(exc, TriggersError)
            message = str(exc.args[0] if plain_key_error and exc.args else exc) or repr(exc)
            raise CommandError(message.splitlines()[0]) from exc
        except RedisError as exc:
            # Raised before a write completed (a saved write with a failed enqueue is a
            # DispatchError, a TriggersError): the storage rolled the operation back.
            raise CommandError(
                f"Redis is unreachable ({type(exc).__name__}: {exc}); the step that needed it "
                f"was not saved"
            ) from exc

    def audit(
        self,
        uid: str,
        action: str,
        instances: Sequence[str] = (),
        detail: str = "",
        flag: str = "change",
    ) -> None:
        """Write the admin log entry of a change this command made (see ``triggers.audit``)."""
        from triggers import audit

        name = type(self).__module__.rsplit(".", 1)[-1]
        audit.record(uid, action, list(instances), detail, command=name, flag=flag)

    def emit(self, options: dict[str, Any], data: Any, text: str) -> None:
        if options.get("json"):
            self.stdout.write(json.dumps(data, indent=2, sort_keys=True, default=str))
        else:
            self.stdout.write(text)
