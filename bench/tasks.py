"""Jobs and tasks the benchmarks run on real workers (importable as ``bench.tasks``)."""


def noop_job() -> None:
    return None


def noop_task(context) -> None:
    return None
