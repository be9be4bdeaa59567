"""A worker leaving its pubsub channel stops its listener before unsubscribing.

RQ's own order (UNSUBSCRIBE, then stop the thread) lets the listener read the reply while it
still runs, and redis-py 8.2's ``stop()`` then waits out RQ's 60 s poll: a burst worker with
nothing to do took a minute to exit, at random.
"""

from __future__ import annotations

from typing import Any

import django_rq
from django.test import SimpleTestCase

from triggers.rq.worker import SimpleWorker, Worker


class _Thread:
    def __init__(self, calls: list[str]) -> None:
        self.calls = calls
        self.running = True

    def stop(self, timeout: float | None = None) -> None:
        self.running = False
        self.calls.append(f"stop({timeout})")

    def join(self, timeout: float | None = None) -> None:
        self.calls.append("join")


class _PubSub:
    def __init__(self, calls: list[str], thread: _Thread) -> None:
        self.calls = calls
        self.thread = thread

    def unsubscribe(self) -> None:
        # The reply to this is what wakes the listener: it must see its run flag cleared.
        self.calls.append("unsubscribe" if not self.thread.running else "unsubscribe-while-running")

    def close(self) -> None:
        self.calls.append("close")


class Unsubscribe(SimpleTestCase):
    def _worker(self, cls: Any) -> tuple[Any, list[str]]:
        worker = cls(["default"], connection=django_rq.get_connection("default"))
        calls: list[str] = []
        worker.pubsub_thread = _Thread(calls)
        worker.pubsub = _PubSub(calls, worker.pubsub_thread)
        return worker, calls

    def test_the_listener_is_stopped_before_the_unsubscribe_is_sent(self) -> None:
        for cls in (Worker, SimpleWorker):
            with self.subTest(cls.__name__):
                worker, calls = self._worker(cls)
                worker.unsubscribe()
                self.assertEqual(calls[0], "stop(0)")
                self.assertIn("unsubscribe", calls)
                self.assertNotIn("unsubscribe-while-running", calls)
                self.assertEqual(calls[-1], "close")

    def test_a_real_subscription_ends_and_its_thread_is_gone(self) -> None:
        worker = Worker(["default"], connection=django_rq.get_connection("default"))
        worker.subscribe()
        thread = worker.pubsub_thread
        worker.unsubscribe()
        self.assertFalse(thread.is_alive())
