"""Tarballs: data files plus ``config.json``, ``manifest.json`` and the collection-status CSV.

Packing is first-fit in the given order (definition order, then part order), so the same input
always gives the same membership; a tarball's uncompressed content, common files included, never
exceeds the limit (counted in bytes, exactly). A tarball holds at most one file per key, always
named ``<key>.<format>``, so a consumer finds a key's data under one name. Tarballs are written
byte-for-byte reproducibly (fixed member metadata, fixed gzip timestamp) and streamed from disk.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from ..exceptions import CollectorsError

CONFIG_FILE = "config.json"
MANIFEST_FILE = "manifest.json"
STATUS_FILE = "data_collection_status.csv"
#: insights-analytics-collector's header and formats: times as ``str(datetime)``, whole seconds.
STATUS_HEADER = ("collection_start_timestamp", "since", "until", "file_name", "status", "elapsed")
STATUS_VERSION = "1.0"
OK, FAILED = "ok", "failed"
_WIDEST_ELAPSED = 9_999_999.0


class PackagingError(ValueError, CollectorsError):
    """A file that cannot fit in a tarball of the allowed size, even alone."""


@dataclass(frozen=True)
class DataFile:
    """One file to pack: a JSON document or one CSV part of a key."""

    key: str
    version: str
    filename: str  # name inside the tarball
    path: Path
    size: int


@dataclass(frozen=True)
class StatusRow:
    """One row of the collection-status CSV."""

    key: str
    start: datetime
    since: datetime | None
    until: datetime | None
    file: str
    status: str
    elapsed: float


@dataclass
class Plan:
    """The files of one tarball and its exact uncompressed size."""

    files: list[DataFile] = field(default_factory=list)
    size: int = 0

    @property
    def keys(self) -> list[str]:
        return list(dict.fromkeys(f.key for f in self.files))


def _time(value: datetime | None) -> str:
    return str(value.astimezone(UTC)) if value else ""


def status_csv(rows: Sequence[StatusRow]) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(STATUS_HEADER)
    for row in rows:
        writer.writerow(
            [
                _time(row.start),
                _time(row.since),
                _time(row.until),
                row.file,
                row.status,
                int(row.elapsed),
            ]
        )
    return buffer.getvalue().encode()


def manifest_json(versions: dict[str, str]) -> bytes:
    return json.dumps(versions, indent=1, sort_keys=True).encode() + b"\n"


def config_json(data: object) -> bytes:
    return json.dumps(data, indent=1, sort_keys=True).encode() + b"\n"


def reserve(
    config: bytes, config_key: str, config_version: str, keys: dict[str, tuple[str, str]]
) -> int:
    """An upper bound of the common files' size in any tarball of a gather: config.json, the
    manifest of every key, and a status row per key with the widest values. ``keys`` maps a
    key to ``(filename, version)``. What a gathering function may fill is the limit minus this."""
    versions = {CONFIG_FILE: config_version, STATUS_FILE: STATUS_VERSION, **dict(keys.values())}
    now = datetime.now(UTC).replace(microsecond=1)  # the widest str(datetime)
    widest = [
        StatusRow(key, now, now, now, name, FAILED, _WIDEST_ELAPSED)
        for key, (name, _) in {config_key: (CONFIG_FILE, ""), **keys}.items()
    ]
    return len(config) + len(manifest_json(versions)) + len(status_csv(widest))


def common_files(
    config: bytes, config_version: str, files: Sequence[DataFile], status: bytes
) -> dict[str, bytes]:
    versions = {
        CONFIG_FILE: config_version,
        STATUS_FILE: STATUS_VERSION,
        **{f.filename: f.version for f in files},
    }
    return {CONFIG_FILE: config, MANIFEST_FILE: manifest_json(versions), STATUS_FILE: status}


def plan(
    files: Sequence[DataFile],
    *,
    config: bytes,
    config_version: str,
    status: bytes,
    max_bytes: int,
) -> list[Plan]:
    """Group ``files`` into tarballs, first fit in order; ``PackagingError`` names a file that
    does not fit even alone (the caller fails that key and packs the others)."""

    def size_with(members: list[DataFile]) -> int:
        common = common_files(config, config_version, members, status)
        return sum(f.size for f in members) + sum(len(b) for b in common.values())

    plans: list[Plan] = []
    for data_file in files:
        for candidate in plans:
            if data_file.key in candidate.keys:
                continue
            size = size_with([*candidate.files, data_file])
            if size <= max_bytes:
                candidate.files.append(data_file)
                candidate.size = size
                break
        else:
            size = size_with([data_file])
            if size > max_bytes:
                raise PackagingError(
                    f"{data_file.filename} of {data_file.key!r} is {data_file.size} bytes; with "
                    f"the common files a tarball would hold {size} bytes, over the limit of "
                    f"{max_bytes}"
                )
            plans.append(Plan([data_file], size))
    return plans


def misfits(
    files: Sequence[DataFile], *, config: bytes, config_version: str, status: bytes, max_bytes: int
) -> set[str]:
    """The keys with a file that cannot fit in a tarball even alone."""
    bad = set()
    for data_file in files:
        common = common_files(config, config_version, [data_file], status)
        if data_file.size + sum(len(b) for b in common.values()) > max_bytes:
            bad.add(data_file.key)
    return bad


def _info(name: str, size: int, mtime: float) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.size = size
    info.mtime = int(mtime)
    info.mode = 0o644
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def write_tarball(
    path: Path,
    files: Sequence[DataFile],
    common: dict[str, bytes],
    *,
    mtime: datetime,
    compress_level: int = 6,
) -> int:
    """Write ``path`` (common files first, then the data files streamed from disk); returns the
    compressed size. A partly written file is removed on error."""
    stamp = mtime.timestamp()
    raw = open(path, "xb")
    try:
        with (
            raw,
            gzip.GzipFile(
                filename="", mode="wb", fileobj=raw, mtime=int(stamp), compresslevel=compress_level
            ) as zipped,
            tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as tar,
        ):
            for name, content in common.items():
                tar.addfile(_info(name, len(content), stamp), io.BytesIO(content))
            for data_file in files:
                with open(data_file.path, "rb") as source:
                    tar.addfile(_info(data_file.filename, data_file.size, stamp), source)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path.stat().st_size
