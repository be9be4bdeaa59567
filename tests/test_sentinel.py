"""Redis Sentinel for the cache (trigger sessions) and django-rq's queues, from one URL.

The failover test starts a primary, a replica and a sentinel (``tests.support.sentinel_cluster``),
fires into a session through this process and runs its tasks on a worker process, kills the
primary, lets the sentinel promote the replica, and shows that the same process fires again,
the same worker carries on, a job queued before the failover runs after it, and nothing that
was acknowledged before the failover is lost.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from django.core.cache import caches
from django.test import override_settings
from redis.exceptions import RedisError

from tests.support.helpers import subprocess_env
from tests.support.sentinel_cluster import SentinelCluster
from triggers import TriggerManager, watch
from triggers.redis_config import (
    SentinelPool,
    cache_settings,
    parse_sentinel_url,
    queue_settings,
)

ROOT = Path(__file__).resolve().parent.parent


# -- the URL ----------------------------------------------------------------------------------
def test_a_sentinel_url_names_sentinels_service_db_and_password():
    parsed = parse_sentinel_url("redis+sentinel://:s%40cret@10.0.0.1:26379,h2:26380/mymaster/3")
    assert parsed.sentinels == [("10.0.0.1", 26379), ("h2", 26380)]
    assert (parsed.service_name, parsed.db, parsed.password) == ("mymaster", 3, "s@cret")
    assert parse_sentinel_url("redis+sentinel://h:26379/svc").db == 0


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("redis+sentinel://h/svc", "sentinel 'h' is not host:port"),
        ("redis+sentinel://h:26379", "the path must be /<service name>"),
        ("redis+sentinel://h:26379/svc/zero", "database 'zero' is not a number"),
        ("redis+sentinel://h:26379/svc?ssl=1", "query strings"),
    ],
)
def test_a_bad_sentinel_url_says_what_is_wrong(url, message):
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("?", r"\?")):
        cache_settings(url)


def test_plain_urls_pass_through_and_sentinel_urls_configure_both():
    plain = "redis://127.0.0.1:6379/2"
    assert cache_settings(plain, TIMEOUT=None) == {
        "BACKEND": "django.core.cache.backends.redis.RedisCache",
        "LOCATION": plain,
        "TIMEOUT": None,
    }
    assert queue_settings(plain, DEFAULT_TIMEOUT=60) == {"URL": plain, "DEFAULT_TIMEOUT": 60}

    url = "redis+sentinel://a:1,b:2/svc/4"
    cache = cache_settings(url, KEY_PREFIX="p")
    assert cache["LOCATION"] == [url]  # a list: Django splits strings on commas
    assert cache["OPTIONS"]["pool_class"] == "triggers.redis_config.SentinelPool"
    assert cache["KEY_PREFIX"] == "p"
    queue = queue_settings(url)
    assert (queue["SENTINELS"], queue["MASTER_NAME"], queue["DB"]) == (
        [("a", 1), ("b", 2)],
        "svc",
        4,
    )
    pool = SentinelPool.from_url(url)
    assert (pool.service_name, pool.connection_kwargs["db"]) == ("svc", 4)


# -- failover ---------------------------------------------------------------------------------
@pytest.fixture
def cluster(tmp_path):
    cluster = SentinelCluster(tmp_path / "redis")
    try:
        yield cluster.start()
    finally:
        cluster.stop()


def _fresh_connections() -> None:
    """Forget this process's Redis clients, so the next ones follow the overridden settings."""
    watch._connections.clear()
    caches["default"].close()


@pytest.mark.django_db(transaction=True)
def test_firing_and_workers_resume_after_the_sentinel_promotes_the_replica(cluster, tmp_path):
    prefix = f"sentinel-{uuid.uuid4().hex[:8]}"
    url = cluster.url
    env = {
        **subprocess_env(),
        "REDIS_URL": url,
        "CACHE_KEY_PREFIX": prefix,
        "VAR_DIR": str(tmp_path / "var"),
        "DJANGO_SETTINGS_MODULE": "settings",
        "PYTHONPATH": str(ROOT),
    }
    overrides = override_settings(
        CACHES={"default": cache_settings(url, KEY_PREFIX=prefix, TIMEOUT=None)},
        RQ_QUEUES={name: queue_settings(url, DEFAULT_TIMEOUT=600) for name in ("default", "low")},
        TRIGGERS={"DEFAULT_RUNNER": "rq", "DEFAULT_STORAGE": "cache", "CACHE_ALIAS": "default"},
    )
    workers: list[subprocess.Popen] = []

    def start_worker(*queues: str) -> None:
        log = (tmp_path / f"worker-{len(workers)}.log").open("w")
        command = [sys.executable, str(ROOT / "manage.py"), "rqworker", *queues]
        workers.append(
            subprocess.Popen(
                command,
                cwd=tmp_path,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its process group: the work horses die with it
            )
        )
        log.close()

    _fresh_connections()
    overrides.enable()
    _fresh_connections()
    try:
        manager = TriggerManager.for_session(f"failover-{uuid.uuid4().hex}")
        manager.update_configuration(
            {
                "each": {
                    "after": ["tick"],
                    "andEvery": "tick",
                    "run": "tests.support.tasks.add_one",
                },
                "later": {"after": ["late"], "run": "tests.support.tasks.add_one", "queue": "low"},
            }
        )
        start_worker("default")

        def finished(count: int) -> bool:
            done = [i for i in manager.storage if i.status == "finished"]
            return len(done) >= count

        for n in range(5):
            manager.fire("tick", {"n": n})
        cluster.wait(lambda: finished(5), "5 instances to finish before the failover", 60)
        manager.fire("late", {"n": 100})  # acknowledged; its job waits on "low" (no worker yet)
        assert manager.storage["later#0"].status == "scheduled"

        cluster.kill_primary()
        cluster.wait_for_promotion()

        def fires() -> bool:  # the first commands may still meet a dead connection
            try:
                manager.fire("tick", {"n": 5})
            except RedisError:
                return False
            return True

        cluster.wait(fires, "firing to work again after the failover", 60)
        for n in range(6, 10):
            manager.fire("tick", {"n": n})
        start_worker("low")
        # RQ's worker retries a lost connection after 1, 2, 4, ... seconds (at most 60).
        cluster.wait(lambda: finished(11), "every instance to finish after the failover", 180)

        instances = {inst.name: inst for inst in manager.storage}
        assert sorted(instances) == sorted([f"each#{i}" for i in range(10)] + ["later#0"])
        assert {inst.status for inst in instances.values()} == {"finished"}
        assert sorted(inst.result["n"] for inst in instances.values()) == [*range(1, 11), 101]
        assert workers[0].poll() is None, "the worker of before the failover is still running"
        # All of it on the promoted replica, none on the test suite's own Redis.
        assert cluster.client("replica").keys(f"{prefix}:*")
        assert cluster.client("replica").info("replication")["role"] == "master"
    finally:
        for worker in workers:
            if worker.poll() is None:
                os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(30)
        overrides.disable()
        _fresh_connections()
        for log in sorted(tmp_path.glob("worker-*.log")):  # shown by pytest when the test fails
            print(f"== {log.name}\n{log.read_text()[-3000:]}")
