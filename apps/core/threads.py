"""Work started beside the current work, in a thread with its own database connections."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from django.db import connections

T = TypeVar("T")


def run_beside(work: Callable[[], T], *, name: str) -> Callable[[], T]:
    """Start `work` now in a thread of its own (its database connections are its own, closed when it ends;
    it sees only committed rows) and return what waits for its result, raising its error."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=name)

    def run() -> T:
        try:
            return work()
        finally:
            connections.close_all()

    future = pool.submit(run)

    def wait() -> T:
        try:
            return future.result()
        finally:
            pool.shutdown(wait=True)

    return wait
