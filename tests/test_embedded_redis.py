"""The embedded Redis (``settings/embedded_redis.py``) is durable and stops quickly.

Each test runs its own server under ``tmp_path``: the suite's shared server (the checkout's
``var/``) is never stopped.
"""

from __future__ import annotations

import time

import pytest
import redis
from django.conf import settings
from django.test import override_settings

from settings.embedded_redis import ensure_server, socket_path_for, stop_server
from triggers.storages.cache import CacheStorageBackend
from triggers.storages.contract import CONFIGS


@pytest.fixture
def var_dir(tmp_path):
    var = tmp_path / "var"
    yield var
    stop_server(var)  # whatever the test did: no server outlives it


def client(var) -> redis.Redis:
    return redis.Redis(unix_socket_path=str(socket_path_for(var)))


def test_the_server_keeps_an_append_only_file_and_snapshots(var_dir):
    ensure_server(var_dir)
    config = client(var_dir).config_get("*")
    assert config["appendonly"] == "yes"
    assert config["appendfsync"] == "everysec"
    assert config["save"] == "3600 1 300 100 60 10000"


def test_a_server_started_without_durability_is_made_durable_when_reused(var_dir):
    ensure_server(var_dir)
    client(var_dir).config_set("appendonly", "no")  # as an older version started it
    client(var_dir).config_set("save", "")
    ensure_server(var_dir)
    config = client(var_dir).config_get("*")
    assert (config["appendonly"], config["save"]) == ("yes", "3600 1 300 100 60 10000")


@pytest.mark.django_db(transaction=True)
def test_a_session_survives_stop_and_restart(var_dir, uid):
    url = ensure_server(var_dir)
    caches = {
        **settings.CACHES,
        "embedded": {**settings.CACHES["default"], "LOCATION": url, "KEY_PREFIX": "durable"},
    }
    with override_settings(CACHES=caches):
        storage = CacheStorageBackend(uid, cache="embedded")
        with storage.transaction() as state:
            state.set_configs(dict(CONFIGS))
        storage.create_instance("fetch", kwargs={"start": {"page": 7}})

        began = time.monotonic()
        assert stop_server(var_dir) is True
        stopped_in = time.monotonic() - began
        assert not socket_path_for(var_dir).exists()
        assert stop_server(var_dir) is False  # nothing left running

        assert ensure_server(var_dir) == url
        reopened = CacheStorageBackend(uid, cache="embedded")
        assert sorted(reopened.snapshot().configs) == ["fetch", "store"]
        assert reopened["fetch#0"].kwargs == {"start": {"page": 7}}
    assert stopped_in < 2.0, f"stopping took {stopped_in:.1f}s"
