"""The lease base (``triggers.leasing``) and the two leases built on it: a Redis key (the
trigger-instance and collector-run leases) and a database row (the collector lock)."""

from __future__ import annotations

import logging
import threading
import uuid
from datetime import timedelta
from unittest import mock

from django.db.models.functions import Now
from django.test import SimpleTestCase, override_settings

from collector_app.leases import CollectorLease
from collector_app.models import CollectorLock
from tests.support.helpers import SessionTestCase
from triggers.leasing import Heartbeat, Lease, RedisKeyLease
from triggers.rq.lease import Lease as InstanceLease
from triggers.rq.lease import lease_alive, lease_key
from triggers.rq.watch import control_connection

WAIT = 10.0  # seconds a test waits for a heartbeat thread before it fails (never asserted)


class Store:
    """Where ``MemoryLease`` lives: holder and expiry per name, on a clock the test moves."""

    def __init__(self) -> None:
        self.now = 0.0
        self.rows: dict[str, tuple[str, float]] = {}


class MemoryLease(Lease):
    """The smallest subclass: what the base asks of a store, on ``Store``."""

    def __init__(self, store: Store, name: str, ttl: float = 30.0) -> None:
        super().__init__(ttl)
        self.store, self.name, self.owner = store, name, uuid.uuid4().hex

    def _row(self) -> tuple[str, float] | None:
        row = self.store.rows.get(self.name)
        return row if row is not None and row[1] > self.store.now else None

    def _take(self) -> bool:
        if self._row() is not None:
            return False
        self.store.rows[self.name] = (self.owner, self.store.now + self.ttl)
        return True

    def _renew(self) -> bool:
        row = self._row()
        if row is None or row[0] != self.owner:
            return False
        self.store.rows[self.name] = (self.owner, self.store.now + self.ttl)
        return True

    def _release(self) -> None:
        row = self.store.rows.get(self.name)
        if row is not None and row[0] == self.owner:
            del self.store.rows[self.name]

    def _alive(self) -> bool:
        return self._row() is not None


class LeaseBase(SimpleTestCase):
    def setUp(self) -> None:
        self.store = Store()
        self.lease = MemoryLease(self.store, "feed", ttl=30.0)
        self.other = MemoryLease(self.store, "feed", ttl=30.0)

    def test_a_held_lease_is_alive_and_refused_to_others(self) -> None:
        self.assertFalse(self.lease.alive())
        self.assertTrue(self.lease.take())
        self.assertTrue(self.other.alive())
        self.assertFalse(self.other.take())
        self.assertTrue(self.lease.valid())

    def test_renew_extends_the_lease(self) -> None:
        self.lease.take()
        self.store.now = 20.0
        self.assertTrue(self.lease.renew())
        self.store.now = 45.0  # past the first expiry (30), within the renewed one (50)
        self.assertTrue(self.other.alive())
        self.assertFalse(self.other.take())

    def test_release_frees_it(self) -> None:
        self.lease.take()
        self.lease.release()
        self.assertFalse(self.other.alive())
        self.assertFalse(self.lease.valid())
        self.assertTrue(self.other.take())

    def test_an_expired_lease_is_seen_dead_and_its_holder_loses_it(self) -> None:
        self.lease.take()
        self.store.now = 31.0
        self.assertFalse(self.other.alive())
        self.assertTrue(self.other.take())  # taken over
        self.assertFalse(self.lease.renew())
        self.assertTrue(self.lease.lost)
        self.assertFalse(self.lease.valid())
        self.lease.release()  # the loser's release leaves the new holder's lease alone
        self.assertTrue(self.other.alive())

    def test_valid_trusts_the_lease_for_a_share_of_its_ttl_only(self) -> None:
        with mock.patch("triggers.leasing.time.monotonic", return_value=100.0):
            self.lease.take()
        with mock.patch("triggers.leasing.time.monotonic", return_value=100.0 + 30.0 * 0.89):
            self.assertTrue(self.lease.valid())
        with mock.patch("triggers.leasing.time.monotonic", return_value=100.0 + 30.0 * 0.91):
            self.assertFalse(self.lease.valid(), "not renewed in time: no longer trusted")
            self.lease.renew()
            self.assertTrue(self.lease.valid())

    def test_the_heartbeat_renews_until_released(self) -> None:
        lease = MemoryLease(self.store, "beat", ttl=0.03)
        lease.take()
        renewals: list[float] = []
        three = threading.Event()
        real = lease._renew

        def renew() -> bool:
            self.store.now += 0.02  # the store's clock moves less than the ttl between beats
            renewals.append(self.store.now)
            if len(renewals) == 3:
                three.set()
            return real()

        self.other.name = "beat"
        with mock.patch.object(lease, "_renew", renew):
            heartbeat = lease.start_heartbeat("test beat")
            self.assertTrue(three.wait(WAIT))
            heartbeat.stop()
        self.assertGreater(self.store.now, 0.03, "past the first expiry ...")
        self.assertTrue(self.other.alive(), "... and still held: each beat renewed it")
        self.assertFalse(lease.lost)
        lease.release()
        self.assertFalse(heartbeat.is_alive())
        self.assertFalse(self.other.alive())

    def test_the_heartbeat_stops_once_the_lease_is_lost(self) -> None:
        lease = MemoryLease(self.store, "beat", ttl=0.03)
        lease.take()
        self.store.now = 1.0  # expired
        self.other.name = "beat"
        self.other.take()
        heartbeat = lease.start_heartbeat("test beat")
        heartbeat.join(WAIT)
        self.assertFalse(heartbeat.is_alive())
        self.assertTrue(lease.lost)

    def test_bad_ttl_and_missing_store_say_so(self) -> None:
        with self.assertRaisesMessage(ValueError, "positive number of seconds"):
            MemoryLease(self.store, "x", ttl=0)
        with self.assertRaises(NotImplementedError):
            Lease(1.0).take()


class HeartbeatTests(SimpleTestCase):
    def test_a_failing_beat_is_logged_and_tried_again(self) -> None:
        calls: list[int] = []
        finished = threading.Event()

        def beat() -> bool:
            calls.append(1)
            if len(calls) == 1:
                raise ConnectionError("store away")
            return len(calls) < 3  # the third beat ends it

        with self.assertLogs("tests.heartbeat", logging.ERROR) as logs:
            heartbeat = Heartbeat(
                beat,
                0.01,
                "test beat",
                finish=finished.set,
                logger=logging.getLogger("tests.heartbeat"),
            ).start()
            self.assertTrue(finished.wait(WAIT))
        self.assertEqual(len(calls), 3)
        self.assertIn("test beat: a beat failed", logs.output[0])
        heartbeat.stop()  # stopping an ended heartbeat is harmless

    def test_stop_before_start_and_a_bad_interval(self) -> None:
        Heartbeat(lambda: True, 1.0).stop()
        with self.assertRaises(ValueError):
            Heartbeat(lambda: True, 0)


class RedisKeyLeases(SimpleTestCase):
    def setUp(self) -> None:
        self.redis = control_connection()
        self.key = f"tests:lease:{uuid.uuid4().hex}"
        self.addCleanup(self.redis.delete, self.key)

    def test_take_renew_release(self) -> None:
        lease = RedisKeyLease(self.redis, self.key, ttl=30.0)
        self.assertFalse(lease.alive())
        self.assertTrue(lease.take())
        self.assertTrue(lease.alive())
        self.assertLessEqual(self.redis.pttl(self.key), 30_000)
        self.redis.pexpire(self.key, 5_000)
        self.assertTrue(lease.renew())
        self.assertGreater(self.redis.pttl(self.key), 5_000, "renew extends the expiry")
        lease.release()
        self.assertFalse(self.redis.exists(self.key), "release frees it")

    def test_an_expired_key_is_seen_dead(self) -> None:
        lease = RedisKeyLease(self.redis, self.key, ttl=30.0)
        lease.take()
        self.redis.pexpire(self.key, 1)
        self.assertTrue(_eventually(lambda: not lease.alive()))

    def test_the_instance_lease_keeps_its_key_and_lets_it_expire(self) -> None:
        with override_settings(TRIGGERS={"LEASE_TIMEOUT": 30}):
            lease = InstanceLease(self.redis, "cache", "s-1", "a#0")
        self.addCleanup(self.redis.delete, lease_key("cache", "s-1", "a#0"))
        self.assertEqual(lease.key, lease_key("cache", "s-1", "a#0"))
        lease.start()
        self.assertTrue(lease_alive(self.redis, "cache", "s-1", "a#0"))
        heartbeat = lease.heartbeat
        assert heartbeat is not None
        self.assertTrue(heartbeat.is_alive())
        lease.stop()
        self.assertFalse(heartbeat.is_alive())
        self.assertTrue(lease_alive(self.redis, "cache", "s-1", "a#0"), "left to expire")

    def test_without_redis_it_holds_nothing(self) -> None:
        lease = RedisKeyLease(None, self.key, ttl=30.0)
        lease.hold()
        self.assertIsNone(lease.heartbeat)
        self.assertFalse(lease.alive())
        lease.release()

    def test_a_redis_error_while_taking_is_logged_and_the_heartbeat_still_runs(self) -> None:
        broken = mock.Mock()
        broken.set.side_effect = ConnectionError("redis is away")
        lease = RedisKeyLease(broken, self.key, ttl=30.0)
        with self.assertLogs("triggers.watch", logging.WARNING) as logs:
            lease.hold()
        self.addCleanup(lease.release)
        self.assertIn("not taken (ConnectionError: redis is away); retrying", logs.output[0])
        heartbeat = lease.heartbeat
        assert heartbeat is not None
        self.assertTrue(heartbeat.is_alive())


class CollectorLockRows(SessionTestCase):
    """The collector lock as a lease: a ``CollectorLock`` row on the database's clock."""

    def test_renew_extends_the_row(self) -> None:
        lease = CollectorLease("feed", lease=30.0)
        self.assertTrue(lease.take())
        CollectorLock.objects.filter(key="feed").update(expires=Now() + timedelta(seconds=5))
        before = CollectorLock.objects.get(key="feed").expires
        self.assertTrue(lease.renew())
        self.assertGreater(CollectorLock.objects.get(key="feed").expires, before)
        lease.release()

    def test_release_deletes_the_row(self) -> None:
        lease = CollectorLease("feed", lease=30.0)
        lease.take()
        self.assertTrue(lease.alive())
        lease.release()
        self.assertFalse(CollectorLock.objects.filter(key="feed").exists())
        self.assertFalse(lease.alive())

    def test_an_expired_row_is_seen_dead_taken_over_and_its_holder_loses_it(self) -> None:
        stale, fresh = CollectorLease("feed", lease=30.0), CollectorLease("feed", lease=30.0)
        stale.take()
        self.assertFalse(fresh.take())
        CollectorLock.objects.filter(key="feed").update(expires=Now() - timedelta(seconds=1))
        self.assertFalse(fresh.alive())
        self.assertTrue(fresh.take())
        self.assertEqual(CollectorLock.objects.get(key="feed").owner, fresh.owner)
        with self.assertLogs("collector_app.leases", logging.ERROR):
            self.assertFalse(stale.renew())
        self.assertTrue(stale.lost)
        stale.release()  # deletes only its own row
        self.assertTrue(fresh.alive())
        fresh.release()

    def test_the_lease_attribute_keeps_its_name(self) -> None:
        self.assertEqual(CollectorLease("feed", lease=12.0).lease, 12.0)


def _eventually(check, attempts: int = 500) -> bool:
    """Whether ``check()`` becomes true within ``attempts`` short pauses (never timed)."""
    event = threading.Event()
    for _ in range(attempts):
        if check():
            return True
        event.wait(0.01)
    return False
