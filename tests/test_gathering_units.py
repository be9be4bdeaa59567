"""Gathering building blocks without a database: registration, windows, CSV parts, packing."""

from __future__ import annotations

import csv
import io
import tarfile
import types
from datetime import UTC, datetime, timedelta

import pytest

from collector_app.gathering import (
    CollectionError,
    CsvPartError,
    CsvPartWriter,
    InvertedWindowError,
    WindowError,
    load_collection,
    packaging,
    register,
    slice_every,
    split_csv_file,
    windows,
)

NOW = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
WEEK = timedelta(weeks=1)


def module_with(*functions) -> types.ModuleType:
    module = types.ModuleType("fake_collection")
    for function in functions:
        setattr(module, function.__name__, function)
    return module


# -- registration -------------------------------------------------------------------------------
def test_a_collection_module_without_config_function_is_refused():
    @register("hosts", "1.0")
    def hosts(**kwargs):
        return {}

    with pytest.raises(CollectionError, match="has no config function"):
        load_collection(module_with(hosts))


def test_two_config_functions_are_refused():
    @register("config", "1.0", config=True)
    def config(**kwargs):
        return {}

    @register("config2", "1.0", config=True)
    def config2(**kwargs):
        return {}

    with pytest.raises(CollectionError, match="2 config functions \\('config', 'config2'\\)"):
        load_collection(module_with(config, config2))


def test_functions_keep_definition_order_and_the_config_is_apart():
    collection = load_collection("tests.support.gathering_collection")
    assert collection.config.key == "config"
    assert collection.keys == ["hosts", "jobs", "users", "teams", "events", "daily", "inventory"]
    daily = collection.functions[5]
    assert (daily.format, daily.filename, daily.fnc_slicing is not None) == (
        "csv",
        "daily.csv",
        True,
    )


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"key": "bad key"}, "a key is letters"),
        ({"key": "k", "format": "xml"}, "format must be 'json' or 'csv', not 'xml'"),
        ({"key": "k", "config": True, "format": "csv"}, "config function must have format='json'"),
        ({"key": "k", "version": ""}, "version must be a non-empty string"),
        ({"key": "manifest"}, "is the name of a file every tarball holds"),
        ({"key": "k", "full_sync_interval_days": 0}, "must be a positive number"),
    ],
)
def test_bad_registrations_name_what_is_wrong(kwargs, message):
    kwargs.setdefault("version", "1.0")
    with pytest.raises(CollectionError, match=message):
        register(**kwargs)


# -- windows ------------------------------------------------------------------------------------
def test_until_defaults_to_now_and_is_never_in_the_future():
    assert windows.resolve(None, None, now=NOW) == (None, NOW)
    assert windows.resolve(None, NOW + timedelta(days=3), now=NOW) == (None, NOW)


def test_a_window_is_at_most_the_horizon_long():
    since = NOW - 10 * WEEK
    assert windows.resolve(since, None, now=NOW) == (since, since + 4 * WEEK)
    assert windows.resolve(since, NOW, now=NOW) == (since, since + 4 * WEEK)
    short = timedelta(days=2)
    assert windows.resolve(since, None, now=NOW, horizon=short) == (since, since + short)
    recent = NOW - timedelta(days=1)
    assert windows.resolve(recent, None, now=NOW) == (recent, NOW)


def test_inverted_and_future_windows_are_clear_errors():
    with pytest.raises(InvertedWindowError, match="is not before until"):
        windows.resolve(NOW - timedelta(days=1), NOW - timedelta(days=2), now=NOW)
    with pytest.raises(InvertedWindowError, match="is not before now"):
        windows.resolve(NOW + timedelta(hours=1), None, now=NOW)
    with pytest.raises(WindowError, match="'yesterday' is not an ISO date"):
        windows.aware("yesterday", "since")


def test_key_windows_start_at_the_checkpoint_but_never_before_the_horizon():
    start = NOW - 4 * WEEK
    common = {"since": None, "until": NOW, "horizon": 4 * WEEK, "full_sync": False}
    checkpoint = NOW - WEEK
    assert windows.key_window(checkpoint=checkpoint, last_gather=None, **common).since == checkpoint
    assert windows.key_window(checkpoint=None, last_gather=None, **common).since == start
    old = NOW - 9 * WEEK
    assert windows.key_window(checkpoint=old, last_gather=None, **common).since == start
    lg = NOW - 2 * WEEK
    assert windows.key_window(checkpoint=None, last_gather=lg, **common).since == lg
    full = {**common, "full_sync": True}
    assert windows.key_window(checkpoint=checkpoint, last_gather=None, **full).since == start


def test_full_sync_is_due_after_its_interval():
    assert windows.full_sync_due(None, 7, NOW)
    assert windows.full_sync_due(NOW - timedelta(days=7), 7, NOW)
    assert not windows.full_sync_due(NOW - timedelta(days=6), 7, NOW)
    assert not windows.full_sync_due(None, None, NOW)


def test_slices_cover_the_window_and_bad_slices_are_named():
    window = windows.Window(NOW - timedelta(days=2, hours=12), NOW)
    slices = slice_every(timedelta(days=1))(since=window.since, until=window.until)
    assert [b - a for a, b in slices] == [timedelta(days=1)] * 2 + [timedelta(hours=12)]
    assert windows.check_slices("k", window, slices)[-1].until == NOW
    with pytest.raises(WindowError, match=r"slice 1 of 'k' starts at .* before the previous"):
        windows.check_slices("k", window, [slices[1], slices[0]])
    with pytest.raises(WindowError, match="outside"):
        windows.check_slices("k", window, [(window.since - WEEK, NOW)])
    with pytest.raises(WindowError, match="not a \\(since, until\\) pair"):
        windows.check_slices("k", window, [NOW])


# -- CSV parts ----------------------------------------------------------------------------------
def test_csv_parts_never_exceed_the_limit_and_all_repeat_the_header(tmp_path):
    with CsvPartWriter(tmp_path, "events", 1000, ["id", "text"]) as out:
        out.writerows([i, "line\nbreak" if i % 7 == 0 else "x" * 30] for i in range(200))
    assert len(out.paths) > 3
    rows = []
    for path in out.paths:
        assert path.stat().st_size <= 1000
        with open(path, newline="") as part:
            content = list(csv.reader(part))
        assert content[0] == ["id", "text"]
        rows += content[1:]
    assert [int(r[0]) for r in rows] == list(range(200))
    assert rows[7][1] == "line\nbreak"  # a quoted newline stays inside its row


def test_a_row_too_big_for_any_part_is_a_clear_error(tmp_path):
    with (
        pytest.raises(CsvPartError, match="row 1 of 'k' is 502 bytes"),
        CsvPartWriter(tmp_path, "k", 100, ["a"]) as out,
    ):
        out.writerow(["x" * 500])


def test_an_existing_big_csv_file_is_split_on_rows_not_lines(tmp_path):
    source = tmp_path / "big.csv"
    with open(source, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["id", "note"])
        writer.writerows([i, f"multi\nline {i}"] for i in range(50))
    parts = split_csv_file(source, tmp_path / "parts", "big", 200)
    assert len(parts) > 1 and all(p.stat().st_size <= 200 for p in parts)
    ids = [r[0] for p in parts for r in list(csv.reader(open(p, newline="")))[1:]]
    assert ids == [str(i) for i in range(50)]


# -- packing ------------------------------------------------------------------------------------
def data_file(tmp_path, key, size, index=0):
    path = tmp_path / f"{key}-{index}"
    path.write_bytes(b"x" * size)
    return packaging.DataFile(key, "1.0", f"{key}.csv", path, size)


def test_packing_is_first_fit_deterministic_and_counts_common_files(tmp_path):
    files = [
        data_file(tmp_path, "a", 400),
        data_file(tmp_path, "b", 300),
        data_file(tmp_path, "a", 500, 1),
        data_file(tmp_path, "c", 100),
    ]
    args = {"config": b'{"x": 1}\n', "config_version": "1.0", "status": b"key\n", "max_bytes": 1000}
    plans = packaging.plan(files, **args)
    assert [[f.path.name for f in p.files] for p in plans] == [["a-0", "b-0", "c-0"], ["a-1"]]
    assert plans == packaging.plan(files, **args)
    for plan in plans:
        common = packaging.common_files(args["config"], "1.0", plan.files, args["status"])
        assert plan.size == sum(f.size for f in plan.files) + sum(map(len, common.values()))
        assert plan.size <= 1000
    with pytest.raises(packaging.PackagingError, match=r"a\.csv of 'a' is 990 bytes"):
        packaging.plan([data_file(tmp_path, "a", 990)], **args)


def test_tarballs_hold_common_files_first_and_are_reproducible(tmp_path):
    files = [data_file(tmp_path, "a", 10)]
    common = packaging.common_files(b"{}\n", "1.0", files, packaging.status_csv([]))
    first, second = tmp_path / "1.tar.gz", tmp_path / "2.tar.gz"
    packaging.write_tarball(first, files, common, mtime=NOW)
    packaging.write_tarball(second, files, common, mtime=NOW)
    assert first.read_bytes() == second.read_bytes()
    with tarfile.open(first) as tar:
        assert tar.getnames() == [
            "config.json",
            "manifest.json",
            "data_collection_status.csv",
            "a.csv",
        ]
    with pytest.raises(FileExistsError):
        packaging.write_tarball(first, files, common, mtime=NOW)
    assert first.read_bytes() == second.read_bytes()  # an existing file is never touched
    status = packaging.status_csv(
        [packaging.StatusRow("a", NOW, NOW - WEEK, NOW, "a.csv", "ok", 1.5)]
    ).decode()
    assert list(csv.reader(io.StringIO(status))) == [
        ["collection_start_timestamp", "since", "until", "file_name", "status", "elapsed"],
        [
            "2026-11-23 12:00:00+00:00",
            "2026-11-16 12:00:00+00:00",
            "2026-11-23 12:00:00+00:00",
            "a.csv",
            "ok",
            "1",
        ],
    ]
