"""The ``rq`` runner: one RQ job per ready instance, through django-rq.

Jobs carry three strings (storage name, session uid, instance name), never pickled objects.
They are enqueued after the session was saved and after the surrounding database transaction
commits (``transaction.on_commit``), on the task's ``queue`` directive or ``TRIGGERS["RQ_QUEUE"]``.
The job id is derived from those three strings and recorded on the instance when it is
scheduled, so it is known even when django-rq defers the enqueue
(``RQ["COMMIT_MODE"] = "request_finished"``, where ``enqueue`` returns no job).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, ClassVar

from django.db import transaction

from ..conf import triggers_setting
from ..exceptions import ConfigurationError
from ..runners.base import BaseRunner, Dispatch
from .jobs import JOB_PATH
from .watch import control_connection, job_id_for, queue_connection, watch

if TYPE_CHECKING:
    from ..manager import TriggerManager
    from ..types import TaskConfig, TaskInstance


def configured_queues() -> dict[str, Any]:
    from django_rq.settings import QUEUES

    return QUEUES


class RQRunner(BaseRunner):
    name: ClassVar[str] = "rq"
    recoverable: ClassVar[bool] = True
    can_requeue: ClassVar[bool] = True

    def queue_name(self, config: TaskConfig) -> str:
        return config.extras.get("queue") or triggers_setting("RQ_QUEUE")

    def queue_of(self, instance: TaskInstance) -> str:
        """The queue ``instance`` was scheduled on (recorded when it was prepared)."""
        return instance.metadata.get("rq_queue") or triggers_setting("RQ_QUEUE")

    def check_config(self, config: TaskConfig) -> None:
        queue = config.extras.get("queue")
        if queue is None:
            return
        known = configured_queues()
        if not isinstance(queue, str) or queue not in known:
            raise ConfigurationError(
                config.name,
                "queue",
                f"{queue!r} is not a queue in settings.RQ_QUEUES ({', '.join(sorted(known))})",
            )

    def prepare(
        self, manager: TriggerManager, instance: TaskInstance, config: TaskConfig, delay: float
    ) -> dict[str, Any]:
        storage, uid = manager.storage.name, manager.session_uid
        watch(control_connection(), storage, uid, instance.name)
        return {
            "rq_queue": self.queue_name(config),
            "rq_job_id": job_id_for(storage, uid, instance.name),
        }

    def schedule(self, manager: TriggerManager, items: list[Dispatch]) -> None:
        storage, uid = manager.storage.name, manager.session_uid

        def enqueue_all() -> None:
            # One pipeline per queue: enqueueing all of a fire's jobs is one round trip each.
            pipelines: dict[str, Any] = {}
            for item in items:
                queue = item.info.get("rq_queue") or triggers_setting("RQ_QUEUE")
                if queue not in pipelines:
                    pipelines[queue] = queue_connection(queue).pipeline()
                self.enqueue(storage, uid, item.instance_name, queue, item.delay, pipelines[queue])
            for pipeline in pipelines.values():
                if pipeline.command_stack:
                    pipeline.execute()

        # Inside transaction.atomic(): after COMMIT, never after ROLLBACK. Outside: at once,
        # without opening a database connection just to ask.
        if transaction.get_connection().in_atomic_block:
            transaction.on_commit(enqueue_all)
        else:
            enqueue_all()

    def requeue(self, storage: str, uid: str, instance: TaskInstance, delay: float = 0.0) -> None:
        """Enqueue a scheduled instance's job again, on the queue it was scheduled on."""
        self.enqueue(storage, uid, instance.name, self.queue_of(instance), delay)

    def enqueue(
        self,
        storage: str,
        uid: str,
        instance_name: str,
        queue_name: str,
        delay: float = 0.0,
        pipeline: Any = None,
    ) -> str:
        """Put the job of one instance on its queue (or schedule it ``delay`` seconds ahead).

        With ``pipeline`` (a pipeline on the queue's connection) the job is only added to it;
        the caller executes it.
        """
        import django_rq

        job_id = job_id_for(storage, uid, instance_name)
        queue = django_rq.get_queue(queue_name, connection=queue_connection(queue_name))
        options: dict[str, Any] = {
            "job_id": job_id,
            "job_timeout": int(triggers_setting("RQ_JOB_TIMEOUT")),
            # The outcome lives on the instance: a finished job keeps no result in Redis.
            "result_ttl": int(triggers_setting("RQ_RESULT_TTL")),
            "failure_ttl": int(triggers_setting("RQ_FAILURE_TTL")),
            "description": f"triggers: {instance_name} of session {uid}",
        }
        if pipeline is not None and getattr(queue, "_autocommit", True):
            options["pipeline"] = pipeline
        if delay > 0:
            # RQ keeps scheduled times in whole seconds, truncated: round up, never run early.
            due = datetime.now(UTC) + timedelta(seconds=delay)
            if due.microsecond:
                due = due.replace(microsecond=0) + timedelta(seconds=1)
            queue.enqueue_at(due, JOB_PATH, storage, uid, instance_name, **options)
        else:
            # With django-rq's COMMIT_MODE "request_finished" this returns None and enqueues at
            # request end; with "on_db_commit" (the default) inside an atomic block, at COMMIT.
            queue.enqueue(JOB_PATH, storage, uid, instance_name, **options)
        return job_id
