"""``gather()``: run a collection's functions over their windows, pack, ship, move checkpoints.

The rules that keep data from being lost:

* A key's checkpoint moves only to the end of a window that was gathered **and** shipped, in
  order: the first failed slice or upload stops the key there, and later slices are not
  gathered (the next run starts from the failed window).
* The collection's last-gather time does not move when any upload failed, nor for a gather of
  some keys only; a key that failed before ever having a checkpoint is pinned to the start of
  its window, so a later last-gather time never skips it.
* Dry runs ship nothing and store no checkpoint; their tarballs are kept in ``dest``.
* Everything is staged in a private temporary folder that is removed whatever happens; ``dest``
  is only ever added to.
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

from django.utils import timezone

from ..recovery import GATHER, run_lease
from . import packaging, windows
from .checkpoints import LAST_GATHER_KEY, Checkpoint
from .gatherer import Gatherer, gatherer_for
from .locks import GatherLocked, collection_lock
from .recording import record_finish, record_start
from .registry import Collection, CollectionError, Registration, call_with
from .results import (
    DISABLED,
    FAILED,
    OK,
    PARTIAL,
    REFUSED,
    SKIPPED,
    GatherResult,
    KeyResult,
)
from .shipping import Common, Gathered, Shipper, data_files
from .transports import ShippingError, Transport, load_transport

logger = logging.getLogger("collector_app.gathering")

#: ``listener(kind, message)`` receives progress: "key", "tarball", "shipped", "error", ...
Listener = Callable[[str, str], None]


def gather(
    collection: str | Gatherer,
    *,
    since: datetime | str | None = None,
    until: datetime | str | None = None,
    dry_run: bool = False,
    dest: str | Path | None = None,
    keys: list[str] | None = None,
    collection_type: str | None = None,
    listener: Listener | None = None,
) -> GatherResult:
    """Gather collection ``collection`` (a name in ``COLLECTORS["GATHERERS"]`` or a Gatherer).

    Bad input (unknown collection, inverted window, no config function, a dry run without
    ``dest``) raises before any work. Expected failures (a failing function, an upload that
    fails, the collection being gathered already) come back in the result.
    """
    gatherer = collection if isinstance(collection, Gatherer) else gatherer_for(collection)
    since_at = windows.aware(since, "since")
    until_at = windows.aware(until, "until")
    since_at, until_at = windows.resolve(
        since_at, until_at, now=timezone.now(), horizon=gatherer.get_horizon()
    )
    if dry_run and dest is None:
        raise ValueError("a dry run keeps its tarballs: give dest, the folder to keep them in")
    spec = gatherer.get_collection()
    if keys:
        unknown = sorted(set(keys) - set(spec.keys))
        if unknown:
            raise CollectionError(
                f"collection {gatherer.name!r} has no key(s) {', '.join(unknown)} "
                f"(keys: {', '.join(spec.keys)})"
            )
    run = _Run(gatherer, spec, since_at, until_at, dry_run, dest, keys, collection_type, listener)
    return run.run()


class _Run:
    def __init__(
        self,
        gatherer: Gatherer,
        spec: Collection,
        since: datetime | None,
        until: datetime,
        dry_run: bool,
        dest: str | Path | None,
        keys: list[str] | None,
        collection_type: str | None,
        listener: Listener | None,
    ) -> None:
        self.gatherer = gatherer
        self.spec = spec
        self.since = since
        self.until = until
        self.dry_run = dry_run
        self.dest = Path(dest) if dest is not None else None
        self.functions = [r for r in spec.functions if not keys or r.key in keys]
        self.whole = len(self.functions) == len(spec.functions)
        self.collection_type = collection_type or ("dry-run" if dry_run else "manual")
        self.listener = listener
        self.result = GatherResult(
            gatherer.name, dry_run=dry_run, since=since, until=until, dest=self.dest
        )
        self.transport: Transport | None = None
        self.counter = 0  # unique staging names
        #: Errors and logs may quote a credential (a transport's error, say): all go through it.
        self.masker = gatherer.masker()

    # -- outline ---------------------------------------------------------------------------
    def run(self) -> GatherResult:
        result = self.result
        if not self.gatherer.is_enabled():
            return self._stop(DISABLED, f"gathering {self.gatherer.name!r} is not enabled")
        if not self.dry_run:
            if not self.gatherer.is_shipping_configured():
                return self._stop(FAILED, f"shipping of {self.gatherer.name!r} is not configured")
            try:
                self.transport = load_transport(self.gatherer.transport, self.gatherer)
            except (ShippingError, ValueError, TypeError) as exc:
                return self._stop(FAILED, f"transport {self.gatherer.transport!r}: {exc}")
        try:
            with collection_lock(self.gatherer) as self.lease:
                result.run_id = record_start(result)
                try:
                    with run_lease(GATHER, result.run_id):  # a killed gather ends "failed"
                        self._work()
                except Exception as exc:  # a bug or an outage: report it, never leak files
                    self._log(logging.ERROR, "gathering %r failed", self.gatherer.name)
                    result.errors.append(f"{type(exc).__name__}: {exc}")
                    result.status = FAILED
                result.mask(self.masker)
                record_finish(result)
        except GatherLocked as exc:
            return self._stop(REFUSED, str(exc))
        self._emit("done", result.summary())
        return result

    def _stop(self, status: str, error: str) -> GatherResult:
        error = self.masker.text(error)
        self.result.status = status
        self.result.errors.append(error)
        self._emit("error", error)
        self.result.run_id = record_start(self.result)
        record_finish(self.result)
        return self.result

    def _emit(self, kind: str, message: str) -> None:
        if self.listener is not None:
            self.listener(kind, self.masker.text(message))

    def _log(self, level: int, message: str, *args: object) -> None:
        """Log ``message`` with the current exception's traceback, secrets masked."""
        logger.log(level, message + "\n%s", *args, self.masker.text(traceback.format_exc()))

    def _work(self) -> None:
        self.tmp = Path(tempfile.mkdtemp(prefix=f"gather-{self.gatherer.name}-"))
        try:
            if self.dest is not None:
                self.dest.mkdir(parents=True, exist_ok=True)
            self.shipper = Shipper(
                self.gatherer.name,
                self.result,
                self.tmp,
                dest=self.dest,
                transport=self.transport,
                max_bytes=self.gatherer.get_max_data_size(),
                compress_level=int(self.gatherer.compress_level),
                emit=self._emit,
            )
            self._gather_all()
        finally:
            shutil.rmtree(self.tmp, ignore_errors=True)
            for tarball in self.result.tarballs:
                if tarball.path is not None and not tarball.path.exists():
                    tarball.path = None
        self.result.status = self._status()

    def _status(self) -> str:
        """ok; failed when something failed and nothing got through (no tarball shipped, or
        for a dry run no key gathered); else partial."""
        statuses = [k.status for k in self.result.keys.values()]
        if not (FAILED in statuses or self.shipper.failed or self.result.errors):
            return OK
        if self.dry_run:
            through = OK in statuses
        else:
            through = any(t.shipped for t in self.result.tarballs)
        return PARTIAL if through and self.result.status != FAILED else FAILED

    # -- gathering -------------------------------------------------------------------------
    def _gather_all(self) -> None:
        stored = self.gatherer.load_checkpoints()
        self.last_gather = stored.get(LAST_GATHER_KEY, Checkpoint()).checkpoint
        horizon = self.gatherer.get_horizon()
        start = self.until - horizon
        base = windows.Window(self.since or max(self.last_gather or start, start), self.until)
        if not self._gather_config(base):
            return
        batches: dict[str, list[Gathered]] = {}
        for registration in self.functions:
            key = KeyResult(registration.key)
            self.result.keys[registration.key] = key
            stored_key = stored.get(registration.key, Checkpoint())
            key.checkpoint = stored_key.checkpoint
            key.full_sync = self.since is None and windows.full_sync_due(
                stored_key.last_full_sync, registration.full_sync_interval_days, self.until
            )
            window = windows.key_window(
                since=self.since,
                until=self.until,
                checkpoint=stored_key.checkpoint,
                last_gather=self.last_gather,
                horizon=horizon,
                full_sync=key.full_sync,
            )
            key.since, key.until = window.since, window.until
            if window.since >= window.until:
                key.status = SKIPPED
                self._emit("key", f"{registration.key}: nothing new since {window.since}")
                continue
            if registration.fnc_slicing is not None:
                self._gather_sliced(registration, registration.fnc_slicing, key, window)
                continue
            gathered = self._gather_key(registration, key, window)
            batches.setdefault(registration.shipping_group, []).append(gathered)
        for group, entries in batches.items():
            shipped = self.shipper.pack_and_ship(group, entries, self.until, self.common)
            for entry in entries:
                self._settle(entry, shipped)
        if not self.dry_run:
            for key in self.result.keys.values():
                if key.status == FAILED and key.checkpoint is None and key.since is not None:
                    self._save(key.key, key.since)  # pinned: a later last gather never skips it
                    key.checkpoint = key.since
            if not self.shipper.failed and self.whole:  # a subset says nothing of other keys
                with self.lease.fenced_write():  # this gather's token, checked in the database
                    self.gatherer.save_last_gather(self.until)

    def _gather_config(self, window: windows.Window) -> bool:
        registration = self.spec.config
        started, clock = timezone.now(), time.monotonic()
        try:
            data = call_with(registration.function, **self._arguments(registration, window))
            config = packaging.config_json(data)
        except Exception as exc:
            self._log(logging.ERROR, "config function %r failed", registration.key)
            error = f"config function {registration.key!r} failed: {type(exc).__name__}: {exc}"
            self.result.errors.append(error)
            self.result.status = FAILED
            self._emit("error", error)
            return False
        row = packaging.StatusRow(
            registration.key,
            started,
            window.since,
            window.until,
            packaging.CONFIG_FILE,
            packaging.OK,
            time.monotonic() - clock,
        )
        self.common = Common(config, registration.version, row)
        names = {r.key: (r.filename, r.version) for r in self.spec.functions}
        reserve = packaging.reserve(config, registration.key, registration.version, names)
        self.budget = self.gatherer.get_max_data_size() - reserve
        if self.budget <= 0:
            error = (
                f"max_data_size {self.gatherer.get_max_data_size()} leaves no room for data: "
                f"config.json, manifest.json and the status CSV alone may take {reserve} bytes"
            )
            self.result.errors.append(error)
            self.result.status = FAILED
            return False
        return True

    def _arguments(self, registration: Registration, window: windows.Window) -> dict:
        directory = self.tmp / "staging" / registration.key
        directory.mkdir(parents=True, exist_ok=True)
        full_sync = self.result.keys.get(registration.key, KeyResult("")).full_sync
        return {
            # insights-analytics-collector's names for the folder and the full sync
            "full_path": str(directory),
            "full_sync_enabled": full_sync,
            "since": window.since,
            "until": window.until,
            "max_data_size": getattr(self, "budget", self.gatherer.get_max_data_size()),
            "staging_dir": directory,
            "collection_type": self.collection_type,
            "key": registration.key,
            "full_sync": full_sync,
        }

    def _gather_key(
        self, registration: Registration, key: KeyResult, window: windows.Window
    ) -> Gathered:
        self._emit("key", f"{registration.key}: gathering {window}")
        started, clock = timezone.now(), time.monotonic()
        files: list[packaging.DataFile] = []
        error = None
        try:
            output = call_with(registration.function, **self._arguments(registration, window))
            self.counter += 1
            where = self.tmp / "staging" / registration.key / f".{self.counter}"
            files = data_files(registration, output, where, self.budget)
        except Exception as exc:
            self._log(logging.WARNING, "gathering %r over %s failed", registration.key, window)
            error = f"{registration.key} ({window}): {type(exc).__name__}: {exc}"
            files = []
        row = packaging.StatusRow(
            registration.key,
            started,
            window.since,
            window.until,
            registration.filename if files else "",
            packaging.FAILED if error else packaging.OK,
            time.monotonic() - clock,
        )
        return Gathered(registration, key, window, files, row, error)

    def _gather_sliced(
        self,
        registration: Registration,
        slicing: Callable[..., Any],
        key: KeyResult,
        window: windows.Window,
    ) -> None:
        try:
            raw = call_with(
                slicing,
                key=registration.key,
                since=window.since,
                until=window.until,
                last_gather=self.last_gather,
                full_sync=key.full_sync,
                full_sync_enabled=key.full_sync,
            )
            slices = windows.check_slices(registration.key, window, raw)
        except Exception as exc:
            key.status, key.error = FAILED, f"slicing failed: {type(exc).__name__}: {exc}"
            self.result.errors.append(f"{registration.key}: {key.error}")
            return
        for index, piece in enumerate(slices):
            gathered = self._gather_key(registration, key, piece)
            shipped = self.shipper.pack_and_ship(
                registration.shipping_group, [gathered], piece.until, self.common
            )
            self._settle(gathered, shipped, final=index == len(slices) - 1)
            if key.status == FAILED:
                return  # the next run starts again from this slice
        if not slices:
            key.status = SKIPPED

    # -- checkpoints --------------------------------------------------------------------
    def _settle(self, entry: Gathered, shipped: set[str], final: bool = True) -> None:
        """Record one window of a key; move its checkpoint if it was gathered and shipped."""
        key, name = entry.key, entry.registration.key
        if entry.error is not None or name not in shipped:
            key.status = FAILED
            key.error = entry.error or next(
                (t.error for t in self.result.tarballs if name in t.keys and t.error), None
            )
            if entry.error:
                self.result.errors.append(entry.error)
                self._emit("error", entry.error)
            return
        key.done.append((entry.window.since, entry.window.until))
        key.status = OK
        if self.dry_run:
            return
        contiguous = (
            self.since is None or key.checkpoint is None or (entry.window.since <= key.checkpoint)
        )
        full_sync = self.until if key.full_sync and final else None
        if contiguous or full_sync:
            self._save(name, entry.window.until if contiguous else None, full_sync)
            if contiguous:
                key.checkpoint = max(key.checkpoint or entry.window.until, entry.window.until)

    def _save(self, key: str, checkpoint: datetime | None, full_sync: datetime | None = None):
        # LockLostError / RunEndedError: another gather took over, or this one ended
        with self.lease.fenced_write():
            self.gatherer.save_checkpoint(key, checkpoint, full_sync)
