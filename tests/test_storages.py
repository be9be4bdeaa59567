"""The storage contract, run against every backend."""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.test import TransactionTestCase, override_settings

from tests.support.backends import DictStorage, JsonDocumentStorage
from tests.support.helpers import SessionTestCase
from triggers.exceptions import CorruptSessionError
from triggers.models import TriggerSession
from triggers.storages.cache import CacheStorageBackend
from triggers.storages.contract import StorageContractTests
from triggers.storages.db import DatabaseStorageBackend
from triggers.storages.kv import CacheKV, RedisKV

WITH_LOCMEM = {
    **settings.CACHES,
    "local": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "t"},
}


class CacheOnRedisStorageTests(StorageContractTests, SessionTestCase):
    def make_storage(self, uid):
        return CacheStorageBackend(uid)

    def test_uses_fenced_redis_writes(self):
        self.assertIsInstance(self.storage.kv, RedisKV)

    def test_a_corrupt_record_is_a_clear_error(self):
        self.configured()
        self.storage.create_instance("fetch")
        key = self.storage.instance_key("fetch#0")
        self.storage.kv.client.set(self.storage.cache.make_key(key), b"{not json")
        with self.assertRaisesMessage(CorruptSessionError, key):
            self.reopened()["fetch#0"]


@override_settings(CACHES=WITH_LOCMEM, TRIGGERS={"SINGLE_PROCESS": True})
class CacheOnLocmemStorageTests(StorageContractTests, SessionTestCase):
    def make_storage(self, uid):
        return CacheStorageBackend(uid, cache="local")

    def test_uses_process_lock(self):
        self.assertIsInstance(self.storage.kv, CacheKV)
        self.assertTrue(self.storage.kv.atomic)


class MinimalThirdPartyStorageTests(StorageContractTests, SessionTestCase):
    """Only ``_load_from_backend`` and ``_save``: the base class must provide the rest."""

    def make_storage(self, uid):
        return DictStorage(uid)


class DocumentStorageTests(StorageContractTests, SessionTestCase):
    """Only ``read_document`` and ``write_document``, through the ``DocumentStorage`` helper."""

    def make_storage(self, uid):
        return JsonDocumentStorage(uid)


class DatabaseStorageTests(StorageContractTests, TransactionTestCase):
    """Threads in the contract need committed rows, hence TransactionTestCase."""

    def make_storage(self, uid):
        return DatabaseStorageBackend(uid)

    def test_rows_not_a_blob(self):
        self.configured()
        self.storage.create_instance("fetch", kwargs={"start": {"a": 1}})
        session = TriggerSession.objects.get(uid=self.uid)
        self.assertEqual(session.storage, "db")
        self.assertEqual(
            sorted(session.task_configs.values_list("name", flat=True)), ["fetch", "store"]
        )
        row = session.instances.get(name="fetch#0")
        self.assertEqual((row.task_name, row.number, row.status), ("fetch", 0, "unstarted"))
        self.assertEqual(row.kwargs, {"start": {"a": 1}})
        self.assertEqual(session.n_unstarted, 1)

    def test_a_unit_of_work_joins_an_outer_transaction(self):
        self.configured()
        with self.assertRaises(RuntimeError), transaction.atomic():
            self.storage.create_instance("fetch")
            raise RuntimeError("roll the caller's transaction back")
        self.assertEqual(list(self.reopened()), [])
