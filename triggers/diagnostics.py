"""Count what an operation costs in Redis round trips and SQL statements.

Used by ``bench/`` scripts and by tests that pin those costs (counts, never timings). A round
trip is one request written to a Redis server and answered: a single command, a pipeline or a
script each count once, whatever the client (redis-py, RQ, Django's cache).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from redis.connection import AbstractConnection


@dataclass
class Counts:
    """Round trips (``redis``), ``connect()`` calls and SQL statements counted so far."""

    redis: int = 0
    connects: int = 0
    sql: int = 0
    commands: list[str] = field(default_factory=list)


_guard = threading.Lock()


@contextmanager
def count_round_trips(keep_commands: bool = False) -> Iterator[Counts]:
    """Count Redis requests sent (and connections opened) by this process inside the block."""
    counts = Counts()
    send, connect = AbstractConnection.send_packed_command, AbstractConnection.connect

    def counting_send(self, command, check_health=True):
        counts.redis += 1
        if keep_commands:
            first = command[0] if isinstance(command, list) else command
            counts.commands.append(bytes(first[:60]).decode(errors="replace"))
        return send(self, command, check_health)

    def counting_connect(self, *args, **kwargs):
        if self._sock is None:
            counts.connects += 1
        return connect(self, *args, **kwargs)

    with _guard:
        AbstractConnection.send_packed_command = counting_send  # type: ignore[method-assign]
        AbstractConnection.connect = counting_connect  # type: ignore[method-assign]
    try:
        yield counts
    finally:
        with _guard:
            AbstractConnection.send_packed_command = send  # type: ignore[method-assign]
            AbstractConnection.connect = connect  # type: ignore[method-assign]


@contextmanager
def count_costs(using: str = "default", keep_commands: bool = False) -> Iterator[Counts]:
    """Redis round trips and SQL statements (on database ``using``) inside the block."""
    from django.db import connections

    # An execute wrapper, not Django's query log: that log keeps the last 9,000 queries only,
    # so after a long run a block's count read 0.
    def count(execute: Any, sql: Any, params: Any, many: bool, context: Any) -> Any:
        counts.sql += 1
        return execute(sql, params, many, context)

    with count_round_trips(keep_commands) as counts:
        counts.sql = 0
        with connections[using].execute_wrapper(count):
            yield counts
