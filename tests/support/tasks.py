"""Tasks used by the test suite, addressed by dotted path (``tests.support.tasks.<name>``)."""

from __future__ import annotations

import time

from triggers.task import TaskContext, TriggerTask


def noop(context: TaskContext) -> None:
    return None


def echo(context: TaskContext) -> dict:
    return {"seen": context.trigger_kwargs, "depth": context.depth}


def add_one(context: TaskContext) -> dict:
    total = sum(
        value.get("n", 0) for value in context.trigger_kwargs.values() if isinstance(value, dict)
    )
    return {"n": total + 1}


def boom(context: TaskContext) -> dict:
    raise ValueError("boom")


def fail_unless_ok(context: TaskContext) -> dict:
    if not context.trigger_kwargs.get("start", {}).get("ok"):
        raise RuntimeError("not ok yet")
    return {"ok": True}


def skip_quietly(context: TaskContext) -> dict:
    context.skip("nothing to do")


def skip_and_cascade(context: TaskContext) -> dict:
    context.skip("already done", cascade=True, result={"from": "skip"})


def retry_forever(context: TaskContext) -> dict:
    context.retry("still waiting", cooldown=0.05, max_retries=2)


def retry_twice_then_succeed(context: TaskContext) -> dict:
    if context.depth < 2:
        context.retry("not yet", replacement_kwargs={"start": {"attempt": context.depth + 1}})
    return {"attempt": context.trigger_kwargs["start"]["attempt"]}


def retry_with_cooldown(context: TaskContext) -> dict:
    if context.depth == 0:
        context.retry("cool down first", cooldown=0.4)
    return {"ran_at": time.monotonic()}


def warn(context: TaskContext) -> dict:
    context.logger.warning("disk %d%% full", 91)
    context.logger.info("carrying on")
    return {}


def not_a_mapping(context: TaskContext) -> list:
    return [1, 2, 3]


def unstorable(context: TaskContext) -> dict:
    return {"when": object()}


class Multiply(TriggerTask):
    def _run(self, context: TaskContext) -> dict:
        factor = context.trigger_kwargs.get("factor", 1)
        return {"value": context.trigger_kwargs["start"]["value"] * factor}


class RetryingTask(TriggerTask):
    max_retries = 1

    def _run(self, context: TaskContext) -> dict:
        self.retry("again")


class NotATask:
    pass


def sleep_for(context: TaskContext) -> dict:
    import os

    import django_rq

    django_rq.get_connection("default").set(
        f"tests:pid:{context.instance_name}:{context.session_uid}", os.getpid()
    )
    seconds = context.trigger_kwargs["start"].get("sleep", 0)
    time.sleep(seconds)
    return {"slept": seconds}


def count_runs(context: TaskContext) -> dict:
    import django_rq

    runs = django_rq.get_connection("default").incr(f"tests:runs:{context.session_uid}")
    return {"runs": runs}


def retry_after_one_second(context: TaskContext) -> dict:
    if context.depth == 0:
        context.retry("wait a second", cooldown=1.0)
    return {"depth": context.depth}


# -- outcomes that no storage can keep (tests/test_failure_paths.py) ----------------------------
def retry_with_datetime_kwargs(context: TaskContext) -> dict:
    from datetime import datetime

    context.retry("later", replacement_kwargs={"go": {"since": datetime.now()}})


def retry_with_cooldown_from_kwargs(context: TaskContext) -> dict:
    context.retry("later", cooldown=float(context.trigger_kwargs["go"]["cooldown"]))


def retry_with_bad_limit(context: TaskContext) -> dict:
    context.retry("later", max_retries=-1)


def return_huge_int(context: TaskContext) -> dict:
    return {"n": 10**5000}


def return_nul(context: TaskContext) -> dict:
    return {"text": "a\x00b"}


def skip_with_nul_result(context: TaskContext) -> dict:
    context.skip("nothing", cascade=True, result={"text": "\x00"})


def fail_with_nul_message(context: TaskContext) -> dict:
    raise ValueError("bad byte \x00 here")


def remove_own_task(context: TaskContext) -> dict:
    """Stands for an operator replacing the configuration while this instance runs."""
    context.manager.update_configuration(
        {"other": {"after": ["never"], "run": "tests.support.tasks.noop"}}, replace=True
    )
    return {"done": True}


def page_until(context: TaskContext) -> dict:
    """A self-feeding ``andEvery`` loop that pages until it runs out (then skips itself)."""
    page = context.trigger_kwargs.get("page", {}).get("page", 0)
    if page >= context.trigger_kwargs.get("start", {}).get("pages", 3):
        context.skip("no more pages")
    return {"page": page + 1}


def log_error(context: TaskContext) -> dict:
    context.logger.error("disk full")
    return {}


def big_result(context: TaskContext) -> dict:
    """A 1 MB result (the admin must fold it), different for each instance."""
    n = context.trigger_kwargs.get("start", {}).get("n", 0)
    return {"n": n, "blob": f"{n}" + "x" * 1_000_000, "hosts": [f"host-{i}" for i in range(50)]}


def fail_with_big_kwargs(context: TaskContext) -> dict:
    raise RuntimeError(f"licence server refused {len(str(context.trigger_kwargs))} bytes")


def record_push_items(context: TaskContext) -> dict:
    """Records two push items through the ``db`` recorder (tests/test_run_links.py)."""
    from collector_app.pushcollector import Collector

    with Collector.new_run():
        Collector.get("db").update_push_items(
            [
                {"filename": "a.tar.gz", "state": "PUSHED"},
                {"filename": "b.tar.gz", "state": "PUSHED"},
            ]
        ).result()
    return {}
