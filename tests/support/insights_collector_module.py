"""A collector module as insights-analytics-collector's users write them; only the import
line differs (``insights_analytics_collector`` -> ``collector_app.gathering``)."""

from __future__ import annotations

import csv
import os

from collector_app.gathering import CsvFileSplitter, register, slicing


def simple_csv(full_path, file_name, rows, max_data_size):
    """Writes ``rows`` rows through a CsvFileSplitter, as insights' helpers do."""
    path = os.path.join(full_path, f"{file_name}.csv")
    splitter = CsvFileSplitter(filespec=path, max_file_size=max_data_size)
    writer = csv.writer(splitter, lineterminator="\n")
    writer.writerow(["id", "name", "description"])
    for i in range(rows):
        writer.writerow([i, f"name-{i}", "x" * 40])
    return splitter.file_list()


@slicing()
def two_slices(key, since, until, **kwargs):
    middle = since + (until - since) / 2
    return [(since, middle), (middle, until)]


@register("config", "1.0", description="CONFIG", config=True)
def config(since, **kwargs):
    return {"version": "1.0"}


@register("json_collection_1", "1.0", format="json", description="JSON 1")
def json_collection_1(**kwargs):
    return {"json1": "True"}


@register("csv_collection_1", "1.0", format="csv", description="CSV 1")
def csv_collection_1(full_path, max_data_size, **kwargs):
    return simple_csv(full_path, "csv_collection_1", 2, max_data_size)


@register("shared", "1.0", format="csv", description="first half", fnc_slicing=two_slices)
def shared_a(full_path, since, **kwargs):
    return simple_csv(full_path, f"shared_a_{since:%H%M%S}", 1, 10_000)


@register("shared", "1.0", format="csv", description="second half", fnc_slicing=two_slices)
def shared_b(full_path, since, full_sync_enabled, **kwargs):
    return simple_csv(full_path, f"shared_b_{since:%H%M%S}", 1, 10_000)
