"""Bulk reads and writes through PostgreSQL's COPY. One way in for every bulk path."""

from __future__ import annotations

import io
from collections.abc import Iterable, Sequence
from contextlib import contextmanager

import numpy as np
import pandas as pd
import psycopg
from django.db import connection


def timestamp_texts(values: np.ndarray, *, unit: str = "s") -> np.ndarray:
    """UTC datetime64 values as ISO text with an offset, as COPY takes them; NaT becomes None.
    `unit` "us" keeps microseconds."""
    arr = np.asarray(values, dtype=f"datetime64[{unit}]")
    text = np.datetime_as_string(arr, unit=unit).astype(object) + "+00"
    text[np.isnat(arr)] = None
    return text


def copy_rows(table: str, columns: Sequence[str], rows: Iterable[Sequence]) -> int:
    """Stream rows into `table` (a real or temporary table) through COPY FROM STDIN; return how many.

    Values must already be Python values the driver understands (str, int, Decimal, datetime, None)."""
    cols = ", ".join(connection.ops.quote_name(c) for c in columns)
    qtable = connection.ops.quote_name(table)
    written = 0
    with connection.cursor() as cursor, cursor.cursor.copy(f"COPY {qtable} ({cols}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row(row)
            written += 1
    return written


def copy_frame(table: str, frame: pd.DataFrame) -> int:
    """Write a frame's rows into `table` (columns named as the frame's) and return how many were written.

    The frame goes through COPY in CSV format, formatted by pandas (no Python tuple per row); NaN and None
    become NULL. Text, numbers and timestamps must already be in their final form (e.g. timestamp_texts for
    datetimes). The text is formatted and sent COPY_SLICE_ROWS rows at a time, not all at once (a refresh's
    chunk of half a million score rows as one text, and then its bytes, is hundreds of megabytes)."""
    with _copy_in(table, frame.columns) as copy:
        for start in range(0, len(frame), COPY_SLICE_ROWS):
            part = frame.iloc[start : start + COPY_SLICE_ROWS]
            copy.write(part.to_csv(header=False, index=False, lineterminator="\n").encode())
    return len(frame)


COPY_SLICE_ROWS = 50_000


def copy_csv(table: str, columns: Sequence[str], text: bytes) -> None:
    """COPY CSV text (as copy_frame formats it) into `table`'s `columns`."""
    with _copy_in(table, columns) as copy:
        copy.write(text)


@contextmanager
def _copy_in(table: str, columns: Sequence[str]):
    cols = ", ".join(connection.ops.quote_name(c) for c in columns)
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(
            f"COPY {connection.ops.quote_name(table)} ({cols}) FROM STDIN WITH (FORMAT csv)"
        ) as copy,
    ):
        yield copy


def query_frame(cursor, sql: str, params=(), *, dtype=None) -> pd.DataFrame:
    """A query's rows as a frame, streamed as CSV through COPY TO STDOUT and parsed by pandas (no Python tuple
    per row; NULL and empty text both read as NaN)."""
    raw = cursor.cursor  # the psycopg cursor
    statement = psycopg.ClientCursor(raw.connection).mogrify(sql, params)
    buffer = io.BytesIO()
    with raw.copy(f"COPY ({statement}) TO STDOUT WITH (FORMAT csv, HEADER)") as copy:
        for block in copy:
            buffer.write(block)
    buffer.seek(0)
    return pd.read_csv(buffer, dtype=dtype)


def analyze_written(tables: Sequence[str], written: int) -> list[str]:
    """ANALYZE those of `tables` whose planner statistics no longer describe them after `written` rows were
    just added: never analysed, or `written` above a fifth of the rows the statistics know. Whatever the
    table's size: autovacuum may be off or behind, pages join these rows at once, and ANALYZE of a small
    table costs milliseconds. Returns the tables analysed."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT relname, reltuples FROM pg_class WHERE relname = ANY(%s)", [list(tables)])
        known = dict(cursor.fetchall())
        stale = [t for t in tables if known.get(t, -1) < 0 or written > 0.2 * known[t]]
        if stale:
            cursor.execute(f"ANALYZE {', '.join(connection.ops.quote_name(t) for t in stale)}")
    return stale
