"""Gathering, packaging and shipping (insights-analytics-collector's model, without its traps).

A *collection module* holds functions decorated with ``@register``; a ``Gatherer`` (configured
in ``COLLECTORS["GATHERERS"]``) says where their tarballs go; ``gather(name)`` runs them over
their time windows, packs tarballs under the size limit, ships them and moves each key's
checkpoint only over what was shipped. See docs/gathering.md.
"""

from .csv_parts import CsvPartError, CsvPartWriter, split_csv_file
from .engine import gather
from .gatherer import Gatherer, GathererConfigError, UnknownCollectionError, gatherer_for
from .insights import CsvFileSplitter, slicing
from .locks import GatherLocked
from .registry import (
    CollectionError,
    Registration,
    load_collection,
    register,
    registered_collectors,
)
from .results import GatherResult, KeyResult, TarballResult
from .transports import DirectoryTransport, HttpTransport, ShippingError, Transport
from .windows import InvertedWindowError, WindowError, daily_slices, slice_every

__all__ = [
    "CollectionError",
    "CsvFileSplitter",
    "CsvPartError",
    "CsvPartWriter",
    "DirectoryTransport",
    "GatherLocked",
    "GatherResult",
    "Gatherer",
    "GathererConfigError",
    "HttpTransport",
    "InvertedWindowError",
    "KeyResult",
    "Registration",
    "ShippingError",
    "TarballResult",
    "Transport",
    "UnknownCollectionError",
    "WindowError",
    "daily_slices",
    "gather",
    "gatherer_for",
    "load_collection",
    "register",
    "registered_collectors",
    "slice_every",
    "slicing",
    "split_csv_file",
]
