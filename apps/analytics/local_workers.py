"""Scoring a refresh's chunks in processes of this machine when there is no Celery broker (the README's own
`refresh_scores`, the demo): the same ChunkScorer contract as the workers' (tasks._score_chunks_on_workers),
so the scores equal one process's.

Each child is started with `spawn` (a fresh interpreter: forking a process that holds a database connection
and BLAS threads is unsafe), sets Django up against the parent's database and scores one id range from the
run's pickled engine (services.score_chunk), waiting for the recalibration the parent learns meanwhile.
"""

from __future__ import annotations

import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor

from django.conf import settings
from django.db import connection

# Below this many customers, starting processes (a few seconds each) costs more than it saves.
MIN_CUSTOMERS_PER_PROCESS = 50_000


def default_processes(customers: int) -> int:
    """How many processes a refresh of this many customers scores in when no broker is configured."""
    configured = getattr(settings, "SCORES_LOCAL_PROCESSES", None)
    cores = configured or os.cpu_count() or 1
    return max(1, min(cores, customers // MIN_CUSTOMERS_PER_PROCESS))


def local_chunking(brand, processes: int | None = None) -> dict:
    """scores_refresh's `chunks` and `score_chunks` for a refresh of `brand` in this machine's processes:
    `processes` of them (None: default_processes of the brand's customer count); one means in-process."""
    if processes is None:
        from apps.customers.models import Customer

        processes = default_processes(Customer.objects.filter(brand=brand).count())
    if processes <= 1:
        return {"chunks": 1, "score_chunks": None}
    return {"chunks": processes, "score_chunks": score_chunks_in_processes}


def _child_setup(database: dict) -> None:
    import django

    django.setup()
    from django.conf import settings as child_settings

    # the parent's database (under pytest, the test database), not what the settings name
    child_settings.DATABASES["default"].update(
        {k: database[k] for k in ("NAME", "USER", "HOST", "PORT") if k in database}
    )


def _score(run_id: int, low: int, high: int) -> dict:
    from django.db import connections

    from apps.analytics.services import score_chunk

    try:
        scored, timings = score_chunk(run_id=run_id, customer_ids=(low, high))
        return {"scored": scored, "timings": timings}
    finally:
        connections.close_all()


def score_chunks_in_processes(run, ranges: list[tuple[int, int]]):
    """Start one process per id range now; the function returned waits for them (raising the first error)."""
    database = dict(connection.settings_dict)
    executor = ProcessPoolExecutor(
        max_workers=len(ranges),
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_child_setup,
        initargs=({k: database.get(k) for k in ("NAME", "USER", "HOST", "PORT")},),
    )
    futures = [executor.submit(_score, run.pk, low, high) for low, high in ranges]

    def wait() -> tuple[int, dict[str, float]]:
        from apps.analytics.services import chunk_parts_sum

        try:
            parts = [future.result() for future in futures]
        finally:
            executor.shutdown(wait=True, cancel_futures=True)
        return chunk_parts_sum(parts)

    return wait
