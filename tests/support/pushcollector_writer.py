"""Record push items into one ``local`` run from a separate process (the multi-process test).

python -m tests.support.pushcollector_writer ROOT RUN_ID WRITER COUNT BATCH GO_FILE CHUNK_BYTES

Waits until GO_FILE exists, so that all writer processes start appending at the same time.
A small CHUNK_BYTES splits each batch into many writes, cut mid-line, so that writers would
interleave if the log were not locked.
"""

from __future__ import annotations

import os
import sys
import time


def main() -> None:
    root, run_id, writer, count, batch, go_file, chunk_bytes = sys.argv[1:]
    count, batch = int(count), int(batch)
    from django.conf import settings

    settings.configure(COLLECTORS={"ARTIFACTS_ROOT": root})
    from collector_app.pushcollector import Collector
    from collector_app.pushcollector import batch as batch_module
    from collector_app.pushcollector.contract import full_item

    batch_module.COPY_CHUNK_BYTES = int(chunk_bytes)
    Collector.new_run(run_id)
    collector = Collector.get("local")
    deadline = time.monotonic() + 60
    while not os.path.exists(go_file):
        if time.monotonic() > deadline:
            sys.exit("the go file never appeared")
        time.sleep(0.005)
    for start in range(0, count, batch):
        items = (
            full_item(n, writer=writer, batch=start // batch)
            for n in range(start, min(start + batch, count))
        )
        collector.update_push_items(items).result()


if __name__ == "__main__":
    main()
