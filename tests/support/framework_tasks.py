"""Tasks written as the triggers framework's users wrote them (``TriggerTask`` with ``_run``),
used by tests/test_framework_compat.py."""

from __future__ import annotations

from triggers.task import TriggerTask


class ImportSubject(TriggerTask):
    """Reads its trigger's kwargs through ``filter_kwargs`` and reports what it can see."""

    def _run(self, context):
        params = context.filter_kwargs({"firstPageReceived": {"count": int}})
        with self.get_logger_context() as logger:
            logger.info("importing %s responses", params["firstPageReceived"]["count"])
        return {
            "count": params["firstPageReceived"]["count"],
            "uid": self.storage_uid,
            "instance": self.task_instance.name,
            "status": self.task_instance.status,
            "retries": self.request.retries,
        }


class RetryWithEverything(TriggerTask):
    """Retries once with the framework's keywords, then reports its kwargs."""

    max_retries = 1

    def _run(self, context):
        if self.request.retries == 0:
            raise self.retry(
                metadata={"why": "upstream busy"},
                cooldown=0.05,
                replacement_kwargs={"start": {"attempt": 2}},
            )
        return {"kwargs": context.trigger_kwargs}


class LogsAnError(TriggerTask):
    def _run(self, context):
        with self.get_logger_context() as logger:
            logger.error("the disk is almost full")
        return {}


class FailsInsideLoggerContext(TriggerTask):
    def _run(self, context):
        with self.get_logger_context():
            raise ValueError("bad row 7")
