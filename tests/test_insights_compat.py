"""insights-analytics-collector's way: a collector module, a gather, then the tarballs opened
and their members checked. Only the imports change (docs/migrating.md)."""

from __future__ import annotations

import csv
import io
import json
import tarfile
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from collector_app.gathering import (
    CollectionError,
    CsvFileSplitter,
    Gatherer,
    gather,
    load_collection,
    register,
    registered_collectors,
)
from tests.support import insights_collector_module

pytestmark = pytest.mark.django_db(transaction=True)
STATUS_HEADER = ["collection_start_timestamp", "since", "until", "file_name", "status", "elapsed"]


def collector(tmp_path, **settings) -> Gatherer:
    return Gatherer(
        "insights",
        module="tests.support.insights_collector_module",
        transport="directory",
        shipping_directory=str(tmp_path / "shipped"),
        **settings,
    )


def tarballs(tmp_path) -> list[dict[str, bytes]]:
    found = []
    for path in sorted((tmp_path / "shipped").glob("*.tar.gz")):
        with tarfile.open(path) as tar:
            found.append({m.name: tar.extractfile(m).read() for m in tar.getmembers()})
    return found


def test_registered_collectors_lists_the_module_functions_in_order():
    names = [f.__name__ for f in registered_collectors(insights_collector_module)]
    assert names == [
        "config",
        "json_collection_1",
        "csv_collection_1",
        "shared_a",
        "shared_b",
    ]
    assert registered_collectors("tests.support.insights_collector_module")[0] is (
        insights_collector_module.config
    )


def test_tarball_members_manifest_and_status_csv_as_insights_writes_them(tmp_path):
    until = timezone.now().replace(microsecond=0)
    result = gather(
        collector(tmp_path),
        since=until - timedelta(hours=2),
        until=until,
        keys=["json_collection_1", "csv_collection_1"],
    )
    assert result.ok, result.errors
    (members,) = tarballs(tmp_path)
    assert not any(name.startswith("./") for name in members)
    assert sorted(members) == [
        "config.json",
        "csv_collection_1.csv",
        "data_collection_status.csv",
        "json_collection_1.json",
        "manifest.json",
    ]
    assert json.loads(members["manifest.json"]) == {
        "config.json": "1.0",
        "csv_collection_1.csv": "1.0",
        "data_collection_status.csv": "1.0",
        "json_collection_1.json": "1.0",
    }
    rows = list(csv.reader(io.StringIO(members["data_collection_status.csv"].decode())))
    assert rows[0] == STATUS_HEADER
    assert [row[3:5] for row in rows[1:]] == [
        ["config.json", "ok"],
        ["json_collection_1.json", "ok"],
        ["csv_collection_1.csv", "ok"],
    ]
    assert rows[1][1] == str(until - timedelta(hours=2))  # str(datetime), as insights writes
    assert rows[1][5].isdigit()  # whole seconds
    assert members["csv_collection_1.csv"].decode().splitlines()[0] == "id,name,description"


def test_sliced_functions_sharing_a_key_are_all_gathered_per_slice(tmp_path):
    until = timezone.now().replace(microsecond=0)
    result = gather(
        collector(tmp_path), since=until - timedelta(hours=2), until=until, keys=["shared"]
    )
    assert result.ok, result.errors
    assert len(result.keys["shared"].done) == 2
    shipped = tarballs(tmp_path)
    assert len(shipped) == 4  # two slices, two functions, one file per key in a tarball
    assert all("shared.csv" in members for members in shipped)


def test_functions_sharing_a_key_must_be_sliced(tmp_path):
    module = type(insights_collector_module)("t_insights_unsliced")
    module.config = register("config", "1.0", config=True)(lambda **kw: {})
    module.a = register("k", "1.0", format="csv")(lambda **kw: [])
    module.b = register("k", "1.0", format="csv")(lambda **kw: [])
    with pytest.raises(CollectionError, match=r"key 'k' is registered 2 times.*fnc_slicing"):
        load_collection(module)


def test_csv_file_splitter_splits_by_size_and_repeats_the_header(tmp_path):
    spec = tmp_path / "big_table.csv"
    splitter = CsvFileSplitter(filespec=str(spec), max_file_size=100)
    writer = csv.writer(splitter, lineterminator="\n")
    writer.writerow(["id", "text"])
    for i in range(10):
        writer.writerow([i, "y" * 20])
    files = splitter.file_list()
    assert len(files) > 1
    assert [Path(f).name for f in files] == [f"big_table.csv_split{n}" for n in range(len(files))]
    bodies = [Path(f).read_text().splitlines() for f in files]
    assert all(lines[0] == "id,text" for lines in bodies)
    assert sum(len(lines) - 1 for lines in bodies) == 10


def test_csv_file_splitter_single_file_keeps_the_plain_name(tmp_path):
    spec = tmp_path / "small.csv"
    splitter = CsvFileSplitter(filespec=str(spec), max_file_size=10_000)
    splitter.write("a,b\n1,2\n")
    assert splitter.file_list() == [str(spec)]
    assert spec.read_text() == "a,b\n1,2\n"
