"""Bulk writes: COPY on PostgreSQL, batched executemany elsewhere. One way in for every bulk path."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from django.db import connection


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def copy_rows(table: str, columns: Sequence[str], rows: Iterable[Sequence], *, batch_size: int = 5000) -> int:
    """Write rows into `table` (a real or temporary table) and return how many were written.

    On PostgreSQL this streams through COPY FROM STDIN; elsewhere it uses executemany in batches.
    Values must already be Python values the driver understands (str, int, Decimal, datetime, None).
    """
    cols = ", ".join(connection.ops.quote_name(c) for c in columns)
    qtable = connection.ops.quote_name(table)
    written = 0
    with connection.cursor() as cursor:
        if is_postgres():
            raw = cursor.cursor  # the psycopg cursor
            with raw.copy(f"COPY {qtable} ({cols}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
                    written += 1
            return written
        placeholders = ", ".join(["%s"] * len(columns))
        sql = f"INSERT INTO {qtable} ({cols}) VALUES ({placeholders})"
        batch: list[Sequence] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= batch_size:
                cursor.executemany(sql, batch)
                written += len(batch)
                batch.clear()
        if batch:
            cursor.executemany(sql, batch)
            written += len(batch)
    return written
