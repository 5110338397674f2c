"""Bulk writes: COPY on PostgreSQL, batched executemany elsewhere. One way in for every bulk path."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Sequence

import numpy as np
import pandas as pd
import psycopg
from django.db import connection


def is_postgres() -> bool:
    return connection.vendor == "postgresql"


def timestamp_texts(values: np.ndarray, *, unit: str = "s") -> np.ndarray:
    """UTC datetime64 values as text the database stores and compares correctly; NaT becomes None.

    PostgreSQL COPY takes ISO text with an offset; SQLite keeps Django's own 'YYYY-MM-DD HH:MM:SS' UTC text,
    so that range comparisons against rows Django wrote stay right. `unit` "us" keeps microseconds.
    """
    arr = np.asarray(values, dtype=f"datetime64[{unit}]")
    text = np.datetime_as_string(arr, unit=unit).astype(object)
    text = text + "+00" if is_postgres() else np.char.replace(text.astype(str), "T", " ").astype(object)
    text[np.isnat(arr)] = None
    return text


def db_datetime(value: dt.datetime):
    """A datetime parameter for raw SQL: as is on PostgreSQL; Django's UTC text on SQLite, where sqlite3
    would otherwise bind local time with an offset that compares wrongly against stored values."""
    if value is None or is_postgres():
        return value
    return connection.ops.adapt_datetimefield_value(value)


def _plain(value):
    """A driver-friendly value for executemany: numpy scalars as Python ones, aware datetimes as the
    backend's text (sqlite3 would store numpy integers as BLOBs and datetimes in another text format)."""
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, dt.datetime):
        return connection.ops.adapt_datetimefield_value(value)
    return value


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
            batch.append([_plain(v) for v in row])
            if len(batch) >= batch_size:
                cursor.executemany(sql, batch)
                written += len(batch)
                batch.clear()
        if batch:
            cursor.executemany(sql, batch)
            written += len(batch)
    return written


def copy_frame(table: str, frame: pd.DataFrame) -> int:
    """Write a frame's rows into `table` (columns named as the frame's) and return how many were written.

    On PostgreSQL the frame goes through COPY in CSV format, formatted by pandas (no Python tuple per row);
    NaN and None become NULL. Text, numbers and timestamps must already be in their final form (e.g.
    timestamp_texts for datetimes). Elsewhere the rows go through copy_rows."""
    if not is_postgres():
        rows = frame.astype(object).where(frame.notna(), None).itertuples(index=False, name=None)
        return copy_rows(table, list(frame.columns), rows)
    cols = ", ".join(connection.ops.quote_name(c) for c in frame.columns)
    text = frame.to_csv(header=False, index=False, lineterminator="\n")
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(
            f"COPY {connection.ops.quote_name(table)} ({cols}) FROM STDIN WITH (FORMAT csv)"
        ) as copy,
    ):
        copy.write(text.encode())
    return len(frame)


def query_frame(cursor, sql: str, params=(), *, dtype=None) -> pd.DataFrame:
    """A query's rows as a frame: on PostgreSQL streamed as CSV through COPY TO STDOUT and parsed by pandas
    (no Python tuple per row; NULL and empty text both read as NaN); elsewhere fetched."""
    if is_postgres():
        raw = cursor.cursor  # the psycopg cursor
        statement = psycopg.ClientCursor(raw.connection).mogrify(sql, params)
        buffer = io.BytesIO()
        with raw.copy(f"COPY ({statement}) TO STDOUT WITH (FORMAT csv, HEADER)") as copy:
            for block in copy:
                buffer.write(block)
        buffer.seek(0)
        return pd.read_csv(buffer, dtype=dtype)
    cursor.execute(sql, params)
    columns = [c[0] for c in cursor.description]
    return pd.DataFrame.from_records(cursor.fetchall(), columns=columns)
