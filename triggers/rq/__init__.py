"""Everything the ``rq`` runner needs, in one place.

* ``runner``: ``RQRunner``, one RQ job per ready instance (enqueue, requeue);
* ``jobs``: ``run_instance``, the job entry point, and ``closes_db_connections`` for RQ jobs;
* ``job_path``: how a job claims its instance, keeps its lease and ends its watch;
* ``watch``: the watch list recovery reads, and the per-process Redis connections;
* ``lease``: the leases that prove a job's process is alive;
* ``worker``: ``Worker`` / ``SimpleWorker`` for ``rqworker --worker-class``, running recovery.

The old paths (``triggers.runners.rq_runner``, ``triggers.jobs``, ``triggers.watch``,
``triggers.worker``) are the same modules under their former names.
"""
