"""RQ worker classes that also run trigger recovery, for ``rqworker --worker-class``.

``triggers.worker.Worker`` / ``SimpleWorker`` (the names settings use) are these classes.

``Worker`` (forking, RQ's default) closes the parent's database connections before each fork,
so a job never shares a connection with its worker (the django-rq pitfall). ``SimpleWorker``
runs jobs in the worker process. Both start a daemon thread that runs ``recover()`` every
``TRIGGERS["RECOVERY_INTERVAL"]`` seconds; a Redis lock makes it one pass per interval across
all workers. A forking worker never forks while that thread is half-way through a pass: the
work horse would inherit whatever lock the thread held at that instant (a module's import
lock during the first pass, say) and hang on it until the job timeout.

The forking ``Worker`` renews the lease of the instance its work horse runs, each time it wakes
up to check on the horse (at least every third of ``LEASE_TIMEOUT``, in whole seconds), so the
horse starts no renewal thread (``triggers.rq.job_path``; with ``LEASE_TIMEOUT`` under 3 s it
does, as a once-a-second renewal would not do): a task that holds the GIL for long cannot
starve the renewal, and only a dead horse or a dead worker may let the lease lapse. The horse
also skips ``close_old_connections`` (its worker closed every connection before the fork).
``SimpleWorker`` runs the task in the worker process, where the process's one renewal thread
renews it (the limit in runners.md).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import rq
from django.db import close_old_connections, connections

from ..conf import triggers_setting
from .job_path import mark_work_horse
from .jobs import JOB_PATHS
from .lease import extend_lease, lease_interval
from .watch import RECOVERY_LOCK_KEY, control_connection

logger = logging.getLogger("triggers.worker")


class RecoveryThread(threading.Thread):
    def __init__(self, interval: float, guard: threading.Lock) -> None:
        super().__init__(name="triggers recovery", daemon=True)
        self.interval = interval
        self.guard = guard
        self.stopped = threading.Event()

    def run(self) -> None:
        from ..recovery import recover

        while not self.stopped.is_set():
            with self.guard:
                try:
                    connection = control_connection()
                    lock_ms = int(self.interval * 1000)
                    if connection.set(RECOVERY_LOCK_KEY, "1", nx=True, px=lock_ms):
                        recover()
                except Exception:
                    logger.exception("triggers recovery pass failed")
                finally:
                    close_old_connections()
            self.stopped.wait(self.interval)


class RecoveringWorkerMixin:
    #: Held by the recovery thread during a pass, and by a forking worker while it forks.
    fork_guard: threading.Lock

    def work(self, *args: Any, **kwargs: Any) -> bool:
        # Import here, in the main thread and once, what the recovery thread and every job
        # (each forked work horse) would otherwise import again and again.
        from .. import execution, manager, recovery  # noqa: F401
        from ..runners import get_runner_class
        from ..storages import get_storage_class

        get_storage_class()
        get_runner_class()

        interval = float(triggers_setting("RECOVERY_INTERVAL"))
        self.fork_guard = threading.Lock()
        thread = RecoveryThread(interval, self.fork_guard) if interval > 0 else None
        if thread is not None:
            thread.start()
        try:
            return super().work(*args, **kwargs)  # type: ignore[misc]
        finally:
            if thread is not None:
                thread.stopped.set()

    def unsubscribe(self) -> None:
        # RQ sends UNSUBSCRIBE, then stops its listener thread. With redis-py 8.2 that stop
        # joins without a limit, and when the thread read the reply before its run flag was
        # cleared it sleeps out RQ's 60 s poll: a burst worker then took a minute to exit.
        # Clearing the flag first lets the reply end the loop at once.
        thread = getattr(self, "pubsub_thread", None)
        if thread is not None:
            try:
                thread.stop(timeout=0)
            except TypeError:  # redis-py before 8.2: stop() only clears the flag
                thread.stop()
        super().unsubscribe()  # type: ignore[misc]


class Worker(RecoveringWorkerMixin, rq.Worker):
    def execute_job(self, job: Any, queue: Any) -> Any:
        connections.close_all()  # never hand an open connection to the forked work horse
        return super().execute_job(job, queue)

    def monitor_work_horse(self, job: Any, queue: Any, execution: Any) -> Any:
        # RQ's alarm takes whole seconds (0 would mean never): wake up at least once a second.
        renew_every = max(1, int(lease_interval()))
        if self.job_monitoring_interval > renew_every:
            self.job_monitoring_interval = renew_every
        return super().monitor_work_horse(job, queue, execution)

    def maintain_heartbeats(self, job: Any, execution: Any) -> None:
        # RQ 3 passes the job's execution to both monitoring hooks.
        super().maintain_heartbeats(job, execution)
        extend_job_lease(job)

    def main_work_horse(self, job: Any, queue: Any) -> None:
        mark_work_horse()  # this worker renews the horse's lease; no stale DB connections
        super().main_work_horse(job, queue)

    def fork_work_horse(self, job: Any, queue: Any) -> None:
        guard = getattr(self, "fork_guard", None)
        if guard is None:
            return super().fork_work_horse(job, queue)
        with guard:  # the horse never returns from here: it exits inside RQ's code
            return super().fork_work_horse(job, queue)


class SimpleWorker(RecoveringWorkerMixin, rq.SimpleWorker):
    pass


def extend_job_lease(job: Any) -> bool:
    """Extend the lease of the instance a ``run_instance`` job runs, from outside its process.

    Only a lease the job took (once it claimed its instance) is extended, never created, so a
    duplicate delivery that runs nothing leaves no lease behind. Errors are logged, never
    raised: this runs inside RQ's loop that watches the work horse.
    """
    try:
        if job.func_name not in JOB_PATHS:
            return False
        storage, uid, name = job.args[:3]
        return extend_lease(control_connection(), storage, uid, name)
    except Exception:
        logger.warning("lease of job %s not extended", getattr(job, "id", "?"), exc_info=True)
        return False
