"""A collection module for the gathering tests; ``CONTROL`` steers what its functions do."""

from __future__ import annotations

from datetime import timedelta

from collector_app.gathering import CsvPartWriter, daily_slices, register

#: Set by the tests: rows of the big CSV, windows whose gathering raises, what was called.
CONTROL: dict = {"big_rows": 0, "fail_since": set(), "calls": [], "hold": None}


def reset() -> None:
    CONTROL.update(big_rows=0, fail_since=set(), calls=[], hold=None)


def _called(key: str, since, until, **extra) -> None:
    CONTROL["calls"].append({"key": key, "since": since, "until": until, **extra})


@register("config", "1.0", config=True, description="who is sending")
def config(since, until, collection_type, **kwargs):
    _called("config", since, until, collection_type=collection_type)
    return {"instance": "test", "collection_type": collection_type}


@register("hosts", "1.1", format="json")
def hosts(since, until, **kwargs):
    _called("hosts", since, until)
    if CONTROL["hold"] is not None:  # (entered, release) events: park the gather here
        CONTROL["hold"][0].set()
        CONTROL["hold"][1].wait(30)
    return {"hosts": ["a", "b"], "since": since.isoformat(), "until": until.isoformat()}


@register("jobs", "2.0", format="json", description="finished jobs")
def jobs(since, until):  # takes only what it needs
    _called("jobs", since, until)
    return [{"id": 1}, {"id": 2}]


def _small(key: str, staging_dir, max_data_size) -> list:
    with CsvPartWriter(staging_dir, key, max_data_size, ["id", "name"]) as out:
        out.writerows([i, f"{key}-{i}"] for i in range(3))
    return out.paths


@register("users", "1.0", format="csv")
def users(staging_dir, max_data_size, since, until):
    _called("users", since, until)
    return _small("users", staging_dir, max_data_size)


@register("teams", "1.0", format="csv")
def teams(staging_dir, max_data_size, since, until):
    _called("teams", since, until)
    return _small("teams", staging_dir, max_data_size)


@register("events", "3.0", format="csv", shipping_group="bulk")
def events(staging_dir, max_data_size, since, until):
    """``CONTROL["big_rows"]`` rows of 100 bytes each (``id`` padded, then a filler)."""
    _called("events", since, until)
    with CsvPartWriter(staging_dir, "events", max_data_size, ["id", "payload"]) as out:
        for i in range(CONTROL["big_rows"]):
            out.writerow([f"{i:09d}", "x" * 88])  # 9 + 1 + 88 + 2 (\r\n) = 100 bytes
    return out.paths


@register("daily", "1.0", format="csv", fnc_slicing=daily_slices)
def daily(staging_dir, max_data_size, since, until):
    """One row per slice, carrying the slice's bounds; raises for a window in ``fail_since``."""
    _called("daily", since, until)
    if since in CONTROL["fail_since"]:
        raise RuntimeError(f"database went away while reading {since:%Y-%m-%d}")
    with CsvPartWriter(staging_dir, "daily", max_data_size, ["since", "until"]) as out:
        out.writerow([since.isoformat(), until.isoformat()])
    return out.paths


@register("inventory", "1.0", format="json", full_sync_interval_days=7)
def inventory(since, until, full_sync):
    _called("inventory", since, until, full_sync=full_sync)
    return {"full_sync": full_sync, "days": (until - since) / timedelta(days=1)}
