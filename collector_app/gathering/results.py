"""What ``gather()`` returns: per-key outcomes, tarballs (shipped or not) and errors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..masking import Masker

# Run statuses.
OK, PARTIAL, FAILED, REFUSED, DISABLED = "ok", "partial", "failed", "refused", "disabled"
# Key statuses (besides OK and FAILED): nothing new to gather, or not reached.
SKIPPED = "skipped"


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass
class TarballResult:
    name: str
    group: str
    keys: list[str]
    #: Uncompressed content (common files included) and compressed size, in bytes.
    size: int
    compressed_size: int
    #: Where it is now; ``None`` once removed (shipped or not, a temporary one is removed).
    path: Path | None
    shipped: bool = False
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "group": self.group,
            "keys": self.keys,
            "size": self.size,
            "compressed_size": self.compressed_size,
            "path": str(self.path) if self.path else None,
            "shipped": self.shipped,
            "error": self.error,
        }


@dataclass
class KeyResult:
    key: str
    status: str = SKIPPED
    since: datetime | None = None
    until: datetime | None = None
    full_sync: bool = False
    #: Windows (slices, or the one window) gathered and shipped (or packed, for a dry run).
    done: list[tuple[datetime, datetime]] = field(default_factory=list)
    #: The checkpoint stored after the run (``None`` when unknown or a dry run).
    checkpoint: datetime | None = None
    error: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "status": self.status,
            "since": _iso(self.since),
            "until": _iso(self.until),
            "full_sync": self.full_sync,
            "done": [[_iso(a), _iso(b)] for a, b in self.done],
            "checkpoint": _iso(self.checkpoint),
            "error": self.error,
        }


@dataclass
class GatherResult:
    collection: str
    status: str = OK
    dry_run: bool = False
    since: datetime | None = None
    until: datetime | None = None
    dest: Path | None = None
    keys: dict[str, KeyResult] = field(default_factory=dict)
    tarballs: list[TarballResult] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    run_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.status == OK

    @property
    def shipped(self) -> list[TarballResult]:
        return [t for t in self.tarballs if t.shipped]

    def to_dict(self) -> dict[str, Any]:
        return {
            "collection": self.collection,
            "status": self.status,
            "dry_run": self.dry_run,
            "since": _iso(self.since),
            "until": _iso(self.until),
            "dest": str(self.dest) if self.dest else None,
            "keys": {k: v.to_dict() for k, v in self.keys.items()},
            "tarballs": [t.to_dict() for t in self.tarballs],
            "errors": list(self.errors),
            "run_id": self.run_id,
        }

    def mask(self, masker: Masker) -> None:
        """Mask secrets in every error (they may quote a transport's credentials)."""
        self.errors = [masker.text(error) for error in self.errors]
        items: list[KeyResult | TarballResult] = [*self.keys.values(), *self.tarballs]
        for item in items:
            item.error = masker.text(item.error) if item.error else item.error

    def summary(self) -> str:
        shipped = len(self.shipped)
        what = "packed" if self.dry_run else f"{shipped} shipped"
        line = f"gather {self.collection!r} {self.status}: {len(self.tarballs)} tarball(s), {what}"
        return line + (f"; {len(self.errors)} error(s)" if self.errors else "")
