"""Set-based writes: rows go into a TEMP staging table (COPY), then per target table either
one `INSERT … SELECT … ON CONFLICT … DO UPDATE … WHERE <something changed>` (`upsert`) or, on hot paths,
an `UPDATE … FROM` of the changed rows followed by a plain `INSERT … SELECT … WHERE NOT EXISTS` (`merge`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice

from django.db import connection
from django.db.models import NOT_PROVIDED, Model


@dataclass
class StagingTable:
    """A temporary table private to this connection and transaction."""

    name: str
    columns: Sequence[
        tuple[str, str]
    ]  # (name, SQL type); use text, integer, bigint, numeric, timestamptz, boolean

    def create(self) -> StagingTable:
        cols = ", ".join(f"{name} {sqltype}" for name, sqltype in self.columns)
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.name}")
            cursor.execute(f"CREATE TEMP TABLE {self.name} ({cols}) ON COMMIT DROP")
        return self

    def load(self, rows: Iterable[Sequence]) -> int:
        """Write rows (values in column order). Text columns must hold '' rather than None."""
        names = [name for name, _ in self.columns]
        text_columns = [name for name, sqltype in self.columns if sqltype == "text"]
        written = _copy_csv(self.name, names, rows, force_not_null=text_columns)
        with connection.cursor() as cursor:
            cursor.execute(f"ANALYZE {self.name}")  # temp tables are never auto-analysed
        return written

    def load_columns(self, columns: Sequence[Sequence]) -> int:
        """Write whole columns (same order and length as the table's columns); None is NULL."""
        return self.load(zip(*columns, strict=True))

    def drop(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.name}")


def _copy_csv(table: str, columns: Sequence[str], rows: Iterable[Sequence], *, force_not_null) -> int:
    """COPY in CSV format, formatted by the C csv writer in large chunks (much faster than per-row
    adaptation). None becomes NULL; FORCE_NOT_NULL keeps empty strings of text columns as ''."""
    options = "FORMAT csv"
    if force_not_null:
        options += ", FORCE_NOT_NULL (" + ", ".join(force_not_null) + ")"
    written = 0
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    iterator = iter(rows)
    sql = f"COPY {table} ({', '.join(columns)}) FROM STDIN ({options})"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        while True:
            chunk = list(islice(iterator, 50_000))
            if not chunk:
                break
            writer.writerows(chunk)
            copy.write(buffer.getvalue())
            buffer.seek(0)
            buffer.truncate()
            written += len(chunk)
    return written


def insert_defaults(model: type[Model], supplied: Iterable[str]) -> dict[str, object]:
    """Column -> value for every non-null column the import does not supply (Django defaults are not
    database defaults, so set-based inserts must spell them out)."""
    supplied = set(supplied) | {"id", "brand_id", "created_at", "updated_at"}
    values: dict[str, object] = {}
    for field in model._meta.concrete_fields:
        if field.column in supplied or field.primary_key:
            continue
        if field.default is not NOT_PROVIDED:
            values[field.column] = field.get_db_prep_save(field.get_default(), connection)
        elif not field.null:
            values[field.column] = ""
    return values


@dataclass
class UpsertCounts:
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def upsert(
    *,
    model: type[Model],
    brand_id: int,
    values: Mapping[str, str],
    value_params: Sequence = (),
    source: str,
    params: Sequence = (),
    conflict: Sequence[str],
    update: Sequence[str],
    set_exprs: Mapping[str, str] | None = None,
    changed: str | None = None,
    staged: int,
    now,
) -> UpsertCounts:
    """INSERT INTO model SELECT <values> FROM <source> ON CONFLICT (<conflict>) DO UPDATE the `update`
    columns WHERE any of them differs (or `changed`). `values` maps target column -> SQL expression over
    `source` (placeholders filled from `value_params`, then `params` for the source); brand_id, created_at
    and updated_at are added. `staged` is how many rows the SELECT yields,
    so unchanged = staged - created - updated."""
    table = model._meta.db_table
    lock_brand(brand_id)
    columns = ["brand_id", *values, "created_at", "updated_at"]
    exprs = ["%s", *values.values(), "%s", "%s"]
    all_params = [brand_id, *value_params, now, now, *params]
    sql = f"INSERT INTO {table} AS t ({', '.join(columns)}) SELECT {', '.join(exprs)} FROM {source} "
    sql += f"ON CONFLICT ({', '.join(conflict)}) "
    if update:
        set_exprs = set_exprs or {}
        sets = [f"{c} = {set_exprs.get(c, 'excluded.' + c)}" for c in update]
        sets.append("updated_at = excluded.updated_at")
        if changed is None:
            changed = " OR ".join(f"t.{c} IS DISTINCT FROM excluded.{c}" for c in update)
        sql += f"DO UPDATE SET {', '.join(sets)} WHERE {changed}"
    else:
        sql += "DO NOTHING"
    with connection.cursor() as cursor:
        cursor.execute(
            f"WITH up AS ({sql} RETURNING (xmax = 0) AS inserted) "
            "SELECT count(*) FILTER (WHERE inserted), count(*) FILTER (WHERE NOT inserted) FROM up",
            all_params,
        )
        created, updated = cursor.fetchone()
    if created + updated >= ANALYZE_THRESHOLD:
        analyze(table)
    return UpsertCounts(created=created, updated=updated, unchanged=max(staged - created - updated, 0))


def merge(
    *,
    model: type[Model],
    brand_id: int,
    source: str,
    params: Sequence = (),
    key: Mapping[str, str],
    values: Mapping[str, str],
    value_params: Sequence = (),
    update: Sequence[str],
    set_exprs: Mapping[str, str] | None = None,
    changed: str | None = None,
    staged: int,
    now,
    all_new: bool = False,
) -> UpsertCounts:
    """Two plain statements instead of `INSERT … ON CONFLICT DO UPDATE`:

    1. `UPDATE model t SET <update> FROM <source> WHERE <key matches> AND (<changed>)`: only rows whose
       values differ are touched (ON CONFLICT locks and re-checks every conflicting row, even unchanged ones);
    2. `INSERT INTO model SELECT <values> FROM <source> WHERE NOT EXISTS (<row with that key>)`: a plain
       insert, without the speculative-insertion work ON CONFLICT does per row.

    `key` maps target key columns (besides brand_id) -> SQL expressions over `source`; `values` maps every
    inserted column -> SQL expression (placeholders filled from `value_params`; the `update` expressions
    must have none); `set_exprs` gives some update columns another expression for the UPDATE, over `t` (the
    stored row) and `source` (e.g. keep a stored value in some cases); `changed` is a condition over `t` and
    `source` (default: any update column differs from what the UPDATE would set).
    `all_new` says the caller knows no row of `source` exists yet (skips both the UPDATE and the anti-join).
    Imports of one brand are serialised by an advisory lock, so nothing can slip in between the two
    statements; any other writer racing on the same key gets a unique-key error, never a duplicate.
    Counts come from the row counts of the two statements."""
    table = model._meta.db_table
    lock_brand(brand_id)
    updated = 0
    with connection.cursor() as cursor:
        if update and not all_new:
            exprs = {column: (set_exprs or {}).get(column, values[column]) for column in update}
            sets = [f"{column} = {expr}" for column, expr in exprs.items()]
            if any("%s" in expr for expr in exprs.values()):
                raise ValueError("update expressions must not take parameters")
            if changed is None:
                changed = " OR ".join(f"t.{c} IS DISTINCT FROM ({expr})" for c, expr in exprs.items())
            match = " AND ".join(f"t.{column} = {expr}" for column, expr in key.items())
            cursor.execute(
                f"UPDATE {table} AS t SET {', '.join(sets)}, updated_at = %s FROM {source} "
                f"WHERE t.brand_id = %s AND {match} AND ({changed})",
                [now, *params, brand_id],
            )
            updated = cursor.rowcount
        columns = ["brand_id", *values, "created_at", "updated_at"]
        exprs = ["%s", *values.values(), "%s", "%s"]
        sql = f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(exprs)} FROM {source}"
        all_params = [brand_id, *value_params, now, now, *params]
        if not all_new:
            match = " AND ".join(f"x.{column} = {expr}" for column, expr in key.items())
            sql += f" WHERE NOT EXISTS (SELECT 1 FROM {table} x WHERE x.brand_id = %s AND {match})"
            all_params.append(brand_id)
        cursor.execute(sql, all_params)
        created = cursor.rowcount
    return UpsertCounts(created=created, updated=updated, unchanged=max(staged - created - updated, 0))


# Imports of one brand take this transaction-level advisory lock (key, brand id) before writing.
IMPORT_LOCK_KEY = 0x494D50  # "IMP"


def lock_brand(brand_id: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [IMPORT_LOCK_KEY, brand_id])


def analyze_if_stale(table: str, written: int) -> None:
    """Refresh planner statistics of a real table when this import wrote a large share of it (its
    statistics still describe the table before the import) and a later statement joins against it."""
    if written < ANALYZE_THRESHOLD:
        return
    with connection.cursor() as cursor:
        cursor.execute("SELECT reltuples FROM pg_class WHERE oid = %s::regclass", [table])
        row = cursor.fetchone()
        estimated = row[0] if row else -1
    if estimated < 0 or written > 0.2 * estimated:
        analyze(table)


# After writing this many rows into a table, refresh its planner statistics inside the transaction:
# later statements of the same import join against it, and stale estimates (a brand that "has 400 rows"
# but now has 300,000) make PostgreSQL pick nested loops that run for minutes.
ANALYZE_THRESHOLD = 10_000


def analyze(*tables: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE {', '.join(tables)}")


def stage_and_upsert(
    *,
    run,
    model: type[Model],
    brand_id: int,
    stage: StagingTable,
    rows,
    supplied: list[str],
    defaults: Mapping[str, object],
) -> None:
    """Load parsed rows into the staging table and upsert them into `model` by (brand, external_id): the
    `supplied` columns come from the file (and update existing rows), `defaults` fill the rest on insert."""
    from django.utils import timezone

    with run.writing():
        with run.phase("copy"):
            stage.create()
            staged = stage.load(rows)
        with run.phase("upsert"):
            values = {"external_id": "s.external_id", **{c: f"s.{c}" for c in supplied}}
            values.update({column: "%s" for column in defaults})
            run.count(
                upsert(
                    model=model,
                    brand_id=brand_id,
                    values=values,
                    value_params=list(defaults.values()),
                    source=f"{stage.name} s",
                    conflict=["brand_id", "external_id"],
                    update=supplied,
                    staged=staged,
                    now=timezone.now(),
                )
            )
