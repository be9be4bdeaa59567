"""Peak memory of ``update_push_items`` on the ``local`` and ``db`` recorders (not a test).

Records N and 3N push items through each backend of the example project, with ``DEBUG`` on as
in development (Django then keeps the text of recent queries), and prints the peak traced
memory (tracemalloc). Bounded memory means the N and 3N figures are about the same.

    python bench/bench_recorder_memory.py [--items 100000]
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import tracemalloc
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def items(count: int) -> Iterator[dict]:
    for n in range(count):
        yield {
            "filename": f"pkg-{n}-1.0-1.el9.x86_64.rpm",
            "state": "PUSHED",
            "src": f"/mnt/koji/packages/pkg-{n}/1.0/1.el9/x86_64/pkg-{n}-1.0-1.el9.x86_64.rpm",
            "dest": "rhel-9-for-x86_64-baseos-rpms",
            "build": f"pkg-{n}-1.0-1.el9",
            "checksums": {"md5": "bb1b0d528129f47798006e73307ba7a7"},
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    count = parser.parse_args().items
    folder = Path(tempfile.mkdtemp(prefix="bench-recorder-"))
    os.environ["DATABASE_URL"] = f"sqlite:///{folder / 'db.sqlite3'}"
    os.environ.setdefault("DJANGO_DEBUG", "1")
    os.environ["DJANGO_SETTINGS_MODULE"] = "settings"
    try:
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command
        from django.test import override_settings

        from collector_app.pushcollector import Collector

        call_command("migrate", verbosity=0)
        print(f"DEBUG={settings.DEBUG}")
        with override_settings(COLLECTORS={"ARTIFACTS_ROOT": folder / "artifacts"}):
            for backend in ("local", "db"):
                peaks = []
                for n in (count, 3 * count):
                    tracemalloc.start()
                    try:
                        with Collector.new_run():
                            Collector.get(backend).update_push_items(items(n)).result()
                        peaks.append(tracemalloc.get_traced_memory()[1] / 2**20)
                    finally:
                        tracemalloc.stop()
                print(
                    f"{backend:>5}: peak {peaks[0]:.1f} MiB for {count:,} items, "
                    f"{peaks[1]:.1f} MiB for {3 * count:,} (ratio {peaks[1] / peaks[0]:.2f})"
                )
    finally:
        shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
