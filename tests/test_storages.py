"""The storage contract, run against every backend."""

from __future__ import annotations

from django.conf import settings
from django.test import SimpleTestCase, override_settings

from tests.backends import DictStorage
from triggers.exceptions import CorruptSessionError
from triggers.storages.cache import CacheStorageBackend
from triggers.storages.contract import StorageContractTests
from triggers.storages.kv import CacheKV, RedisKV

WITH_LOCMEM = {
    **settings.CACHES,
    "local": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "t"},
}


class CacheOnRedisStorageTests(StorageContractTests, SimpleTestCase):
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
class CacheOnLocmemStorageTests(StorageContractTests, SimpleTestCase):
    def make_storage(self, uid):
        return CacheStorageBackend(uid, cache="local")

    def test_uses_process_lock(self):
        self.assertIsInstance(self.storage.kv, CacheKV)
        self.assertTrue(self.storage.kv.atomic)


class MinimalThirdPartyStorageTests(StorageContractTests, SimpleTestCase):
    """Only ``_load_from_backend`` and ``_save``: the base class must provide the rest."""

    def make_storage(self, uid):
        return DictStorage(uid)
