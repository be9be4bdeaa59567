"""Packing the gathered files of a batch into tarballs, shipping them, keeping or dropping them.

A tarball is shipped as soon as it is written (a slice's tarballs go out before the next slice
is gathered). Afterwards it is moved into ``dest`` when the caller gave one (shipped or not:
``dest`` is only ever added to), else removed with the rest of the private temporary folder.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from . import packaging
from .csv_parts import split_csv_file
from .registry import Registration
from .results import GatherResult, KeyResult, TarballResult
from .transports import ShippingError, Transport
from .windows import Window


@dataclass
class Gathered:
    """One call of a gathering function: its files, its status row, its error."""

    registration: Registration
    key: KeyResult
    window: Window
    files: list[packaging.DataFile]
    row: packaging.StatusRow
    error: str | None


def data_files(
    registration: Registration, output: object, directory: Path, budget: int
) -> list[packaging.DataFile]:
    """The data files of one call of a gathering function, each made to fit a tarball alone:
    JSON data is written to ``directory``; a CSV file over ``budget`` bytes is split there."""
    if output is None:
        return []
    directory.mkdir(parents=True, exist_ok=True)
    if registration.format == "json":
        path = directory / registration.filename
        with open(path, "w", encoding="utf-8") as out:
            json.dump(output, out, sort_keys=True)
        paths = [path]
    else:
        if isinstance(output, str | Path):
            output = [output]
        if not isinstance(output, list | tuple):
            raise TypeError(f"a csv function returns file paths, not {type(output).__name__}")
        paths = [Path(p) for p in output]
    files = []
    for index, path in enumerate(paths):
        size = path.stat().st_size  # FileNotFoundError names a missing file
        parts = [path]
        if size > budget:
            if registration.format == "json":
                raise packaging.PackagingError(
                    f"JSON data of {registration.key!r} is {size} bytes, over the {budget} "
                    "bytes a file may hold (max_data_size minus the common files); return "
                    "less per window, slice it, or use format='csv'"
                )
            parts = split_csv_file(path, directory / f"split-{index}", registration.key, budget)
        for part in parts:
            files.append(
                packaging.DataFile(
                    registration.key,
                    registration.version,
                    registration.filename,
                    part,
                    part.stat().st_size,
                )
            )
    return files


@dataclass
class Common:
    """What every tarball of a gather holds besides data: config.json and its status row."""

    config: bytes
    version: str
    row: packaging.StatusRow


class Shipper:
    def __init__(
        self,
        name: str,
        result: GatherResult,
        workdir: Path,
        *,
        dest: Path | None,
        transport: Transport | None,
        max_bytes: int,
        compress_level: int,
        emit: Callable[[str, str], None],
    ) -> None:
        self.name = name
        self.result = result
        self.workdir = workdir
        self.dest = dest
        self.transport = transport  # None: a dry run
        self.max_bytes = max_bytes
        self.compress_level = compress_level
        self.emit = emit
        self.count = 0
        self.failed = False  # any upload failed

    def pack_and_ship(
        self, group: str, entries: list[Gathered], until: datetime, common: Common
    ) -> set[str]:
        """Pack the files of ``entries``; returns the keys whose tarballs all went out (all
        were packed, for a dry run). Keys without files count as shipped: nothing to lose."""
        status = packaging.status_csv([common.row] + [e.row for e in entries])
        args: dict[str, Any] = {
            "config": common.config,
            "config_version": common.version,
            "status": status,
        }
        files = [f for e in entries if e.error is None for f in e.files]
        too_big = packaging.misfits(files, max_bytes=self.max_bytes, **args)
        for entry in entries:
            if entry.registration.key in too_big and entry.error is None:
                entry.error = f"{entry.registration.key}: a file does not fit in a tarball alone"
        files = [f for f in files if f.key not in too_big]
        failed: set[str] = set()
        for plan in packaging.plan(files, max_bytes=self.max_bytes, **args):
            tarball = self._write(plan, group, until, args)
            if self.transport is not None and not self._ship(tarball):
                failed.update(plan.keys)
            self._keep_or_drop(tarball)
        for entry in entries:
            for data_file in entry.files:
                if data_file.path.is_relative_to(self.workdir):  # never a function's own file
                    data_file.path.unlink(missing_ok=True)  # free the staging space as we go
        return {e.registration.key for e in entries if e.error is None} - failed

    def _write(self, plan: packaging.Plan, group: str, until: datetime, args: dict):
        common = packaging.common_files(
            args["config"], args["config_version"], plan.files, args["status"]
        )
        name = self._name(until)
        path = self.workdir / "tarballs" / name
        path.parent.mkdir(exist_ok=True)
        compressed = packaging.write_tarball(
            path, plan.files, common, mtime=until, compress_level=self.compress_level
        )
        tarball = TarballResult(name, group, plan.keys, plan.size, compressed, path)
        self.result.tarballs.append(tarball)
        self.emit("tarball", f"{name}: {', '.join(plan.keys)} ({plan.size:,} bytes)")
        return tarball

    def _name(self, until: datetime) -> str:
        """``<name>-<until>-<n>.tar.gz``, ``n`` counting this gather's tarballs (skipping names
        already in ``dest``)."""
        stamp = until.astimezone(UTC).strftime("%Y-%m-%d-%H%M%S%z")
        while True:
            self.count += 1
            name = f"{self.name}-{stamp}-{self.count}.tar.gz"
            if self.dest is None or not (self.dest / name).exists():
                return name

    def _ship(self, tarball: TarballResult) -> bool:
        assert self.transport is not None and tarball.path is not None
        try:
            self.transport.ship(tarball.path)
            tarball.shipped = True
            self.emit("shipped", f"{tarball.name}: {self.transport.describe()}")
        except Exception as exc:  # ShippingError, or a third-party transport's own error
            text = str(exc) if isinstance(exc, ShippingError) else f"{type(exc).__name__}: {exc}"
            tarball.error = text
            self.failed = True
            self.result.errors.append(text)
            self.emit("error", text)
        return tarball.shipped

    def _keep_or_drop(self, tarball: TarballResult) -> None:
        assert tarball.path is not None
        if self.dest is not None:
            target = self.dest / tarball.name
            shutil.move(tarball.path, target)
            tarball.path = target
        else:
            tarball.path.unlink(missing_ok=True)
            tarball.path = None
