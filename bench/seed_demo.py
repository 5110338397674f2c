"""Benchmark: build a demo brand of N customers into PostgreSQL and print time per phase, rows and memory.

    .venv/bin/python bench/seed_demo.py --customers 100000 [--seed 42] [--rerun]

DATABASE_URL defaults to postgres://postgres@127.0.0.1:5432/clv_bench_seed (created and migrated if needed).
A bare COPY of one million narrow rows is timed in the same run as a baseline for this machine's load.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "clvsite.settings.local")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/clv_bench_seed")


def ensure_database(url: str) -> None:
    import psycopg
    from psycopg import sql

    name = url.rsplit("/", 1)[1].split("?")[0]
    admin = url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def baseline_copy(rows: int = 1_000_000) -> float:
    from django.db import connection, transaction

    from apps.core.bulk import copy_rows

    clock = time.perf_counter()
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("CREATE TEMP TABLE _bench_baseline (a bigint, b bigint, c text) ON COMMIT DROP")
        copy_rows(
            "_bench_baseline", ["a", "b", "c"], ((i, i * 7, "2026-01-01T00:00:00+00") for i in range(rows))
        )
    return time.perf_counter() - clock


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--brand", default="demo-bench")
    parser.add_argument("--end", type=date.fromisoformat, default=date(2026, 11, 1))
    parser.add_argument("--rerun", action="store_true", help="Run a second time to time the replace path.")
    args = parser.parse_args()

    ensure_database(os.environ["DATABASE_URL"])
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from apps.demo.services import demo_seed

    print(f"baseline: COPY 1,000,000 narrow rows in {baseline_copy():.2f} s")
    for run in range(2 if args.rerun else 1):
        clock = time.perf_counter()
        summary = demo_seed(slug=args.brand, customers=args.customers, seed=args.seed, end_date=args.end)
        wall = time.perf_counter() - clock
        print(f"\nrun {run + 1}: {args.customers:,} customers, seed {args.seed}, wall {wall:.1f} s")
        for phase, seconds in summary.seconds.items():
            print(f"  {phase:<36} {seconds:8.2f} s")
        print("  rows:")
        for table, count in summary.rows.items():
            print(f"    {table:<34} {count:>10,}")
        if summary.deleted:
            print("  deleted:", ", ".join(f"{k}={v:,}" for k, v in summary.deleted.items()))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\npeak memory (max RSS of this process): {peak_mb:.0f} MB")


if __name__ == "__main__":
    main()
