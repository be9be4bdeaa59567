"""``gather()`` end to end: tarballs, checkpoints and shipping to a local HTTP ingress."""

from __future__ import annotations

import base64
import csv
import io
import json
import logging
import math
import tempfile
from datetime import timedelta

import pytest
from django.test import override_settings
from django.utils import timezone

from collector_app.gathering import (
    CollectionError,
    Gatherer,
    GathererConfigError,
    InvertedWindowError,
    gather,
    gatherer_for,
)
from collector_app.gathering.checkpoints import LAST_GATHER_KEY
from collector_app.models import GatherCheckpoint, GatherRun
from tests.support import gathering_collection
from tests.support.gathering_server import Ingress, closed_port_url

pytestmark = pytest.mark.django_db(transaction=True)
SECRET = "s3cr3t-pa55"
DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
def clean(monkeypatch, tmp_path):
    gathering_collection.reset()
    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    yield private
    assert list(private.iterdir()) == [], "a temporary folder leaked"


@pytest.fixture
def ingress():
    with Ingress() as server:
        yield server


@pytest.fixture
def until():
    return timezone.now().replace(hour=0, minute=0, second=0, microsecond=0)


def make(url: str = "", **settings) -> Gatherer:
    options = {
        "module": "tests.support.gathering_collection",
        "ingress_url": url,
        "username": "collector",
        "password": SECRET,
        "http_retries": 1,
        "http_backoff": 0,
        "http_timeout": 5,
        **settings,
    }
    return Gatherer("analytics", **options)


def checkpoint(key: str):
    row = GatherCheckpoint.objects.filter(collection="analytics", key=key).first()
    return row.checkpoint if row else None


def status_rows(data: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(data.decode())))


def stamp(when) -> str:
    return when.strftime("%Y-%m-%d-%H%M%S+0000")


# -- packaging shapes ---------------------------------------------------------------------------
def test_two_json_functions_go_in_one_tarball_with_exact_members_and_manifest(ingress, until):
    result = gather(make(ingress.url), keys=["hosts", "jobs"], since=until - DAY, until=until)
    assert result.ok, result.errors
    assert [t.name for t in result.tarballs] == [f"analytics-{stamp(until)}-1.tar.gz"]
    assert result.tarballs[0].shipped and result.tarballs[0].path is None  # temp one removed
    (upload,) = ingress.uploads
    members = upload.members()
    assert sorted(members) == [
        "config.json",
        "data_collection_status.csv",
        "hosts.json",
        "jobs.json",
        "manifest.json",
    ]
    assert json.loads(members["manifest.json"]) == {
        "config.json": "1.0",
        "data_collection_status.csv": "1.0",
        "hosts.json": "1.1",
        "jobs.json": "2.0",
    }
    assert json.loads(members["jobs.json"]) == [{"id": 1}, {"id": 2}]
    assert json.loads(members["config.json"])["collection_type"] == "manual"
    rows = status_rows(members["data_collection_status.csv"])
    assert [(r["file_name"], r["status"]) for r in rows] == [
        ("config.json", "ok"),
        ("hosts.json", "ok"),
        ("jobs.json", "ok"),
    ]
    assert rows[1]["since"] == str(until - DAY)
    assert sum(map(len, members.values())) == result.tarballs[0].size
    # what the ingress saw: multipart field "file", the payload type, basic auth
    assert upload.path == "/api/ingress/upload"
    assert upload.content_type == Gatherer.payload_content_type
    expected = base64.b64encode(f"collector:{SECRET}".encode()).decode()
    assert upload.headers["Authorization"] == f"Basic {expected}"
    assert checkpoint("hosts") == checkpoint("jobs") == until
    assert checkpoint(LAST_GATHER_KEY) is None  # a gather of some keys says nothing of others
    run = GatherRun.objects.get(pk=result.run_id)
    assert (run.status, run.dry_run, run.until) == ("ok", False, until)
    assert run.result["keys"]["hosts"]["status"] == "ok"


def test_small_csvs_share_a_tarball(ingress, until):
    result = gather(make(ingress.url), keys=["users", "teams"], since=until - DAY, until=until)
    assert result.ok and len(result.tarballs) == 1
    members = ingress.uploads[0].members()
    assert members["users.csv"].decode().splitlines() == [
        "id,name",
        "0,users-0",
        "1,users-1",
        "2,users-2",
    ]
    assert "teams.csv" in members
    assert json.loads(members["manifest.json"])["teams.csv"] == "1.0"


def test_one_big_csv_is_split_into_k_tarballs_under_the_limit(ingress, until):
    limit, rows = 20_000, 1_000  # 100,000 bytes of rows
    gathering_collection.CONTROL["big_rows"] = rows
    result = gather(make(ingress.url, max_data_size=limit), keys=["events"], until=until)
    assert result.ok, result.errors
    k = len(result.tarballs)
    assert k >= math.ceil(rows * 100 / limit) + 1  # the common files take room too
    assert [t.name for t in result.tarballs] == [
        f"analytics-{stamp(until)}-{n}.tar.gz" for n in range(1, k + 1)
    ]
    assert {t.group for t in result.tarballs} == {"bulk"}
    seen = []
    for upload in ingress.uploads:
        members = upload.members()
        assert sum(map(len, members.values())) <= limit
        lines = members["events.csv"].decode().splitlines()
        assert lines[0] == "id,payload"
        seen += [int(line.split(",")[0]) for line in lines[1:]]
    assert seen == list(range(rows))  # every row once, in order


def test_daily_slices_over_ten_days_give_ten_tarballs_carrying_their_bounds(ingress, until):
    since = until - 10 * DAY
    result = gather(make(ingress.url), keys=["daily"], since=since, until=until)
    assert result.ok, result.errors
    assert len(result.tarballs) == len(ingress.uploads) == 10
    for day, upload in enumerate(ingress.uploads):
        bounds = (since + day * DAY, since + (day + 1) * DAY)
        assert upload.filename == f"analytics-{stamp(bounds[1])}-{day + 1}.tar.gz"
        _header, row = upload.members()["daily.csv"].decode().splitlines()
        assert row == f"{bounds[0].isoformat()},{bounds[1].isoformat()}"
        (status,) = status_rows(upload.members()["data_collection_status.csv"])[1:]
        assert status["since"] == str(bounds[0])
    assert checkpoint("daily") == until
    assert len(result.keys["daily"].done) == 10


def test_full_sync_when_due_and_not_when_not(ingress, until):
    gatherer = make(ingress.url)
    first = until - 3 * DAY
    gather(gatherer, keys=["inventory"], until=first)
    call = gathering_collection.CONTROL["calls"][-1]
    assert call["full_sync"] and call["since"] == first - timedelta(weeks=4)
    row = GatherCheckpoint.objects.get(collection="analytics", key="inventory")
    assert (row.checkpoint, row.last_full_sync) == (first, first)

    gather(gatherer, keys=["inventory"], until=until - 2 * DAY)  # 1 day later: not due
    call = gathering_collection.CONTROL["calls"][-1]
    assert not call["full_sync"] and call["since"] == first

    GatherCheckpoint.objects.filter(key="inventory").update(last_full_sync=until - 8 * DAY)
    result = gather(gatherer, keys=["inventory"], until=until)  # 8 days later: due again
    call = gathering_collection.CONTROL["calls"][-1]
    assert call["full_sync"] and call["since"] == until - timedelta(weeks=4)
    assert result.keys["inventory"].full_sync
    assert GatherCheckpoint.objects.get(key="inventory").last_full_sync == until


# -- what must never lose data ------------------------------------------------------------------
def test_a_failing_middle_slice_stops_the_checkpoint_before_it(ingress, until):
    since = until - 10 * DAY
    bad = since + 5 * DAY
    gathering_collection.CONTROL["fail_since"] = {bad}
    result = gather(make(ingress.url), keys=["daily"], since=since, until=until)
    assert result.status == "partial"  # five slices went out
    key = result.keys["daily"]
    assert key.status == "failed" and "database went away" in key.error
    assert checkpoint("daily") == bad == key.checkpoint
    assert len(ingress.uploads) == 5
    gathered = [c["since"] for c in gathering_collection.CONTROL["calls"] if c["key"] == "daily"]
    assert gathered == [since + n * DAY for n in range(6)]  # later slices not gathered
    status = status_rows(ingress.uploads[-1].members()["data_collection_status.csv"])
    assert status[-1]["status"] == "ok"

    gathering_collection.CONTROL["fail_since"] = set()
    again = gather(make(ingress.url), keys=["daily"], until=until)  # from the checkpoint
    assert again.ok
    assert [d[0] for d in again.keys["daily"].done] == [bad + n * DAY for n in range(5)]
    assert checkpoint("daily") == until


def test_a_500_on_a_middle_upload_stops_the_checkpoint_before_it(ingress, until, caplog):
    since = until - 10 * DAY
    bad_name = f"analytics-{stamp(since + 6 * DAY)}-6.tar.gz"  # the 6th slice's tarball
    ingress.respond = lambda name, attempt: 500 if name == bad_name else 202
    caplog.set_level(logging.DEBUG)
    result = gather(make(ingress.url), keys=["daily"], since=since, until=until)
    assert result.status == "partial"
    assert checkpoint("daily") == since + 5 * DAY
    assert checkpoint(LAST_GATHER_KEY) is None  # the last gather does not move either
    assert ingress.attempts[bad_name] == 2  # retried once
    failed = result.tarballs[-1]
    assert (failed.name, failed.shipped, failed.path) == (bad_name, False, None)
    assert "answered HTTP 500" in failed.error and "after 2 attempts" in failed.error
    assert SECRET not in caplog.text and SECRET not in json.dumps(result.to_dict())
    assert len(result.tarballs) == 6  # the key stopped at the failed slice

    ingress.respond = lambda name, attempt: 202
    again = gather(make(ingress.url), keys=["daily"], until=until)
    assert again.ok and again.keys["daily"].since == since + 5 * DAY
    assert checkpoint("daily") == until


def test_a_failing_key_does_not_hold_back_the_others(ingress, until):
    gathering_collection.CONTROL["fail_since"] = {until - DAY}
    result = gather(make(ingress.url), since=until - DAY, until=until)  # the whole collection
    assert result.status == "partial"
    assert result.keys["hosts"].status == "ok" and checkpoint("hosts") == until
    assert result.keys["daily"].status == "failed"
    assert checkpoint(LAST_GATHER_KEY) == until  # no upload failed...
    assert checkpoint("daily") == until - DAY  # ...and the failed key is pinned where it was
    gathering_collection.CONTROL["fail_since"] = set()
    again = gather(make(ingress.url))  # until now
    assert again.ok and again.keys["daily"].done[0] == (until - DAY, until)
    assert again.keys["hosts"].since == until


def test_a_dry_run_keeps_its_tarballs_in_dest_and_touches_no_checkpoint(ingress, until, tmp_path):
    dest = tmp_path / "keep"
    dest.mkdir()
    (dest / "mine.txt").write_text("the caller's")
    result = gather(make(ingress.url), dry_run=True, dest=dest, since=until - 2 * DAY, until=until)
    assert result.ok, result.errors
    assert ingress.uploads == []
    assert not GatherCheckpoint.objects.exists()
    assert (dest / "mine.txt").read_text() == "the caller's"
    assert result.tarballs and all(t.path and t.path.parent == dest for t in result.tarballs)
    assert all(not t.shipped for t in result.tarballs)
    assert sorted(p.name for p in dest.iterdir()) == sorted(
        ["mine.txt", *(t.name for t in result.tarballs)]
    )
    assert GatherRun.objects.get(pk=result.run_id).dry_run
    assert gathering_collection.CONTROL["calls"][0]["collection_type"] == "dry-run"
    with pytest.raises(ValueError, match="give dest"):
        gather(make(ingress.url), dry_run=True)


def test_a_connection_error_is_a_failure_result_with_nothing_leaked(until, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    dest = tmp_path / "outbox"
    result = gather(make(closed_port_url()), keys=["hosts"], until=until, dest=dest)
    assert result.status == "failed"
    (tarball,) = result.tarballs
    assert not tarball.shipped and "cannot reach http://127.0.0.1:" in tarball.error
    assert tarball.path == dest / tarball.name and tarball.path.exists()  # kept in dest
    assert checkpoint("hosts") is not None and checkpoint("hosts") < until  # pinned, not moved
    assert checkpoint(LAST_GATHER_KEY) is None
    assert SECRET not in caplog.text
    run = GatherRun.objects.get(pk=result.run_id)
    assert run.status == "failed" and "cannot reach" in run.error
    # the autouse fixture checks that no temporary folder was left behind


def test_credentials_in_the_url_are_used_but_never_shown(ingress, until, caplog):
    caplog.set_level(logging.DEBUG)
    url = ingress.url.replace("http://", f"http://ops:{SECRET}@")
    ingress.respond = lambda name, attempt: 403
    result = gather(make(url, username="", password=""), keys=["hosts"], until=until)
    (tarball,) = result.tarballs
    assert "answered HTTP 403" in tarball.error and ingress.attempts[tarball.name] == 1
    assert SECRET not in tarball.error and SECRET not in caplog.text


def test_token_and_extra_headers(ingress, until):
    gatherer = make(ingress.url, username="", token="tok-123", headers={"X-Identity": "local"})
    assert gather(gatherer, keys=["hosts"], until=until).ok
    headers = ingress.uploads[0].headers
    assert headers["Authorization"] == "Bearer tok-123" and headers["X-Identity"] == "local"


def test_the_directory_transport_copies_tarballs(until, tmp_path):
    outbox = tmp_path / "outbox"
    gatherer = make(transport="directory", shipping_directory=str(outbox))
    result = gather(gatherer, keys=["hosts", "users"], until=until)
    assert result.ok
    assert [p.name for p in outbox.iterdir()] == [result.tarballs[0].name]


def test_inverted_and_future_windows(ingress, until):
    with pytest.raises(InvertedWindowError, match="is not before until"):
        gather(make(ingress.url), since=until, until=until - DAY)
    with pytest.raises(InvertedWindowError, match="is not before now"):
        gather(make(ingress.url), since=timezone.now() + DAY)
    assert not GatherRun.objects.exists() and gathering_collection.CONTROL["calls"] == []
    before = timezone.now()
    result = gather(make(ingress.url), keys=["hosts"], until=timezone.now() + 3 * DAY)
    assert result.ok and before <= result.until <= timezone.now()


def test_settings_are_checked_by_name():
    with pytest.raises(GathererConfigError, match="unknown setting\\(s\\) ingres_url"):
        Gatherer("analytics", ingres_url="https://typo.example")
    with override_settings(COLLECTORS={"GATHERERS": {"x": "collections.OrderedDict"}}):
        with pytest.raises(GathererConfigError, match=r"'collections\.OrderedDict' is not a"):
            gatherer_for("x")
    with override_settings(COLLECTORS={"GATHERERS": {"x": {"module": "tests.nope"}}}):
        with pytest.raises(CollectionError, match=r"cannot import collection module 'tests\.nope'"):
            gather("x")


def test_disabled_or_unconfigured_collections_gather_nothing(until):
    assert gather(make("", enabled=False), until=until).status == "disabled"
    result = gather(make(""), until=until)
    assert (
        result.status == "failed"
        and "shipping of 'analytics' is not configured" in (result.errors[0])
    )
    assert gathering_collection.CONTROL["calls"] == []
