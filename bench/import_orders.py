"""Benchmark the order import end to end on PostgreSQL.

    .venv/bin/python bench/import_orders.py --rows 500000

Generates an order CSV (rows/5 customers, some streams), imports it into a fresh brand, re-imports it (the
idempotent path), and prints rows/s per phase, total rows/s and peak memory, beside two baselines measured
in the same run (the machine may be shared, so only same-run ratios mean much):

- the database floor: the rows the import wrote (customers, orders, lines; ids already resolved) inserted
  with INSERT … SELECT into empty copies of the real tables with the same indexes, checks and deferred
  same-brand foreign keys, then committed. No parsing, no staging, no id lookups: what PostgreSQL needs
  just to store these rows under this schema;
- the raw COPY rate of the same file into a bare unindexed table.
"""

from __future__ import annotations

import argparse
import os
import random
import resource
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/clv_bench")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clvsite.settings.local")

BRAND_SLUG = "bench-import"


def ensure_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    name = url.rsplit("/", 1)[1].split("?")[0]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def generate_csv(path: Path, rows: int, customers: int, stream_ids: list[str], seed: int = 7) -> None:
    rng = random.Random(seed)
    start = datetime(2024, 1, 1)
    categories = ["美妆", "护肤", "服饰", "食品", "家居", "母婴", "数码"]
    statuses = ["paid"] * 90 + ["refunded"] * 6 + ["cancelled"] * 4
    written = 0
    order_no = 0
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("order_id,customer_id,ordered_at,amount,quantity,category,sku,stream_id,status\n")
        while written < rows:
            order_no += 1
            customer = f"{rng.randrange(customers):08d}"
            at = (start + timedelta(seconds=rng.randrange(730 * 86400))).strftime("%Y-%m-%d %H:%M:%S")
            stream = rng.choice(stream_ids) if rng.random() < 0.7 else ""
            status = rng.choice(statuses)
            lines = min(rng.choice((1, 1, 1, 2, 2, 3)), rows - written)
            for _ in range(lines):
                quantity = rng.choice((1, 1, 1, 2, 3))
                amount = f"{rng.randrange(990, 99900) * quantity / 100:.2f}"
                out.write(
                    f"O{order_no:09d},{customer},{at},{amount},{quantity},{rng.choice(categories)},"
                    f"SKU-{rng.randrange(2000):05d},{stream},{status}\n"
                )
            written += lines


def raw_copy_rate(path: Path, rows: int) -> float:
    """COPY the same file straight into a bare, unindexed, typed table: the floor PostgreSQL sets."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("DROP TABLE IF EXISTS bench_raw_orders")
        cursor.execute(
            "CREATE TABLE bench_raw_orders (order_id text, customer_id text, ordered_at timestamptz, "
            "amount numeric, quantity integer, category text, sku text, stream_id text, status text)"
        )
        start = time.perf_counter()
        sql = "COPY bench_raw_orders FROM STDIN (FORMAT csv, HEADER)"
        with cursor.cursor.copy(sql) as copy, path.open("rb") as source:
            while chunk := source.read(1 << 20):
                copy.write(chunk)
        elapsed = time.perf_counter() - start
        cursor.execute("DROP TABLE bench_raw_orders")
    return rows / elapsed


FLOOR_TABLES = (
    ("customers_customer", "bench_floor_customers"),
    ("orders_order", "bench_floor_orders"),
    ("orders_orderitem", "bench_floor_items"),
)
FLOOR_FKS = (
    "ALTER TABLE bench_floor_customers ADD FOREIGN KEY (brand_id) REFERENCES brands_brand (id) "
    "DEFERRABLE INITIALLY DEFERRED",
    "ALTER TABLE bench_floor_customers ADD FOREIGN KEY (brand_id, acquisition_stream_id) "
    "REFERENCES streams_stream (brand_id, id) DEFERRABLE INITIALLY DEFERRED",
    "ALTER TABLE bench_floor_orders ADD FOREIGN KEY (brand_id, customer_id) "
    "REFERENCES bench_floor_customers (brand_id, id) DEFERRABLE INITIALLY DEFERRED",
    "ALTER TABLE bench_floor_orders ADD FOREIGN KEY (brand_id, stream_id) "
    "REFERENCES streams_stream (brand_id, id) DEFERRABLE INITIALLY DEFERRED",
    "ALTER TABLE bench_floor_items ADD FOREIGN KEY (brand_id, order_id) "
    "REFERENCES bench_floor_orders (brand_id, id) DEFERRABLE INITIALLY DEFERRED",
)


def database_floor(brand_id: int) -> dict[str, float]:
    """Insert the brand's imported rows into empty, identically indexed and constrained copies of the real
    tables (INSERT … SELECT from pre-staged sources) and commit; seconds per statement and for the commit."""
    from django.db import connection, transaction

    with connection.cursor() as cursor:
        for _real, copy in reversed(FLOOR_TABLES):
            cursor.execute(f"DROP TABLE IF EXISTS {copy}, {copy}_src")
        for real, copy in FLOOR_TABLES:
            cursor.execute(f"CREATE TABLE {copy} (LIKE {real} INCLUDING ALL)")
            cursor.execute(f"CREATE TABLE {copy}_src AS SELECT * FROM {real} WHERE brand_id = %s", [brand_id])
            cursor.execute(f"ANALYZE {copy}_src")
        for sql in FLOOR_FKS:
            cursor.execute(sql)
    timings: dict[str, float] = {}
    with transaction.atomic(), connection.cursor() as cursor:
        for real, copy in FLOOR_TABLES:
            start = time.perf_counter()
            cursor.execute(f"INSERT INTO {copy} SELECT * FROM {copy}_src")
            timings[real] = time.perf_counter() - start
        start = time.perf_counter()
    timings["commit"] = time.perf_counter() - start
    with connection.cursor() as cursor:
        for _real, copy in reversed(FLOOR_TABLES):
            cursor.execute(f"DROP TABLE {copy}, {copy}_src")
    return timings


def report(label: str, rows: int, result, elapsed: float) -> None:
    t = result.timings
    print(f"\n{label}: {result.summary()}")
    for phase in ("parse", "copy", "upsert", "commit"):
        seconds = t.get(phase, 0.0)
        rate = rows / seconds if seconds else float("inf")
        print(f"  {phase:<8} {seconds:7.2f} s  {rate:12,.0f} rows/s")
    print(
        f"  {'total':<8} {elapsed:7.2f} s  {rows / elapsed:12,.0f} rows/s (end to end, incl. reading the file)"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=500_000)
    parser.add_argument("--customers", type=int, default=None, help="default: rows / 5")
    parser.add_argument("--streams", type=int, default=300)
    args = parser.parse_args()
    customers = args.customers or max(args.rows // 5, 1)

    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from apps.brands.services import brand_create
    from apps.orders.importers import orders_import
    from apps.streams.models import Stream

    print(f"PostgreSQL: {os.environ['DATABASE_URL']}; migrating…")
    call_command("migrate", verbosity=0)
    brand, _ = brand_create(slug=BRAND_SLUG, name="Bench import", timezone="Asia/Shanghai")
    with connection.cursor() as cursor:
        # A dedicated benchmark database: start from empty brand-owned tables (TRUNCATE, because deleting
        # hundreds of thousands of customers row by row runs a foreign-key check per row).
        cursor.execute(
            "TRUNCATE orders_orderitem, orders_order, streams_streamview, communities_communitymembership, "
            "customers_customer, streams_stream CASCADE"
        )
    stream_ids = [f"S{n:05d}" for n in range(args.streams)]
    Stream.objects.bulk_create(
        [
            Stream(brand=brand, external_id=s, started_at=datetime(2024, 1, 1, 20, 0).astimezone())
            for s in stream_ids
        ]
    )

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "orders.csv"
        start = time.perf_counter()
        generate_csv(path, args.rows, customers, stream_ids)
        size_mb = path.stat().st_size / 1e6
        print(
            f"Generated {args.rows:,} rows ({customers:,} customers, {size_mb:.1f} MB) in "
            f"{time.perf_counter() - start:.1f} s"
        )

        start = time.perf_counter()
        fresh = orders_import(brand=brand, path=path)
        fresh_elapsed = time.perf_counter() - start
        assert fresh.ok and fresh.committed, fresh.error_lines()
        report("Fresh import", args.rows, fresh, fresh_elapsed)

        start = time.perf_counter()
        again = orders_import(brand=brand, path=path)
        again_elapsed = time.perf_counter() - start
        assert again.ok and again.created == 0 and again.updated == 0, again.summary()
        report("Re-import (idempotent)", args.rows, again, again_elapsed)

        floor = database_floor(brand.pk)
        raw = raw_copy_rate(path, args.rows)

    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    fresh_rate = args.rows / fresh_elapsed
    floor_total = sum(floor.values())
    print(
        "\nDatabase floor (same rows, ids resolved, INSERT … SELECT into empty copies with the same indexes "
        "and deferred FKs, then commit):"
    )
    for table, seconds in floor.items():
        print(f"  {table:<18} {seconds:7.2f} s")
    print(f"  {'total':<18} {floor_total:7.2f} s  {args.rows / floor_total:12,.0f} rows/s")
    print(
        f"Raw COPY of the same file into a bare unindexed table: {raw:,.0f} rows/s ({args.rows / raw:.2f} s)"
    )
    print(
        f"Fresh import: {fresh_elapsed:.1f} s = {fresh_elapsed / floor_total:.2f} x the database floor, "
        f"{fresh_rate / raw:.3f} x the raw COPY rate"
    )
    print(
        f"Re-import:    {again_elapsed:.1f} s = {again_elapsed / floor_total:.2f} x the database floor, "
        f"{args.rows / again_elapsed / raw:.3f} x the raw COPY rate"
    )
    print(
        f"Floor / raw COPY: {args.rows / floor_total / raw:.3f} "
        "(what indexes, constraints and FK checks cost before any import work)"
    )
    print(
        f"Target 100,000 rows/s: {'met' if fresh_rate >= 100_000 else 'NOT met'} ({fresh_rate:,.0f} rows/s)"
    )
    print(f"Peak memory (max RSS): {peak_mb:,.0f} MB")


if __name__ == "__main__":
    main()
