"""Benchmark: the admin pages brand staff open, at the demo's size and on a brand of 1,000,000 customers.

    .venv/bin/python bench/admin_pages.py [--repeat 5]

Targets (issue 13): every page under 300 ms at the demo's size, under 1 s at 1M customers.

- Demo size: the database clv_bench_admin (created, migrated and seeded with `seed_demo --customers 5000 --score`
  when missing).
- 1M: the brand of `bench/refresh.py --customers 1000000` in clv_bench_refresh, when it has been run (its
  published scores are the run's); otherwise that part says so.

Each page is requested `--repeat` times by a manager of the brand through Django's test client (the whole
view: queries, template, charts), after one warm-up request; the median and the worst are printed with the
query count, beside a bare baseline measured in the same run: the same client fetching the admin's index page
(authentication, session, the app list) — the least any admin page costs. The warm-up request's time is printed
too ("first"): what the first view costs before anything is cached (e.g. facet counts per published run).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DEMO_DB = "postgres://postgres@127.0.0.1:5432/clv_bench_admin"
BIG_DB = "postgres://postgres@127.0.0.1:5432/clv_bench_refresh"
BIG_SLUG = "bench-refresh-1000000"
TARGETS = {"demo": 0.300, "1M": 1.0}


def pages(brand_id: int) -> list[str]:
    return [
        f"/admin/dashboard/{brand_id}/",
        # the date range of the figure cards (the 1M brand's orders end on 2026-06-30)
        f"/admin/dashboard/{brand_id}/?period=90d",
        f"/admin/dashboard/{brand_id}/?period=custom&from=2026-04-01&to=2026-06-30",
        f"/admin/dashboard/{brand_id}/funnel/",
        f"/admin/dashboard/{brand_id}/cohorts/",
        f"/admin/dashboard/{brand_id}/cohorts/?by=acquisition_stream",
        "/admin/customers/customer/",
        "/admin/customers/customer/?_facets=True",
        "/admin/customers/customer/?stage=decline&_facets=True",
        "/admin/customers/customer/?q=C0000042",
        "/admin/customers/customer/?q=13800138000",  # a phone number: searched by staff who may see phones
        "/admin/analytics/customerscore/",
        "/admin/analytics/customerscore/?_facets=True",
        "/admin/analytics/stagechange/",
        "/admin/analytics/stagechange/?_facets=True",
        "/admin/analytics/modelrun/",
        "/admin/orders/order/",
        "/admin/orders/order/?_facets=True",
        "/admin/loyalty/benefitgrant/",
        "/admin/engagement/touch/",
        "/admin/engagement/experiment/",
    ]


def ensure_demo() -> None:
    import psycopg

    name = DEMO_DB.rsplit("/", 1)[1]
    with psycopg.connect(DEMO_DB.rsplit("/", 1)[0] + "/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    if exists:
        return
    env = {
        **os.environ,
        "DATABASE_URL": DEMO_DB,
        "DJANGO_SETTINGS_MODULE": "clvsite.settings.local",
        "LOG_LEVEL": "WARNING",
    }
    for args in (["migrate", "-v0"], ["seed_demo", "--customers", "5000", "--score"]):
        subprocess.run(
            [sys.executable, str(ROOT / "manage.py"), *args], env=env, check=True, capture_output=True
        )


def measure(db_url: str, slug: str, repeat: int, timeout_ms: int = 60_000) -> list[tuple] | str:
    """Run in a child process per database (Django binds one database per process)."""
    code = f"""
import os, sys, json, statistics, time
sys.path.insert(0, {str(ROOT)!r})
os.environ["DATABASE_URL"] = {db_url!r}
os.environ["DJANGO_SETTINGS_MODULE"] = "clvsite.settings.local"
os.environ["LOG_LEVEL"] = "WARNING"
os.environ.setdefault("ALLOWED_HOSTS", "testserver,localhost")
import django
django.setup()
from django.conf import settings
settings.ALLOWED_HOSTS = ["*"]
from django.contrib.auth import get_user_model
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from apps.brands.models import Brand
from apps.brands.services import membership_set
sys.path.insert(0, {str(ROOT / "bench")!r})
from admin_pages import pages
brand = Brand.objects.filter(slug={slug!r}).first()
if brand is None:
    print(json.dumps({{"missing": True}}))
    sys.exit(0)
with connection.cursor() as cursor:  # a page slower than this is reported as such, not waited for
    cursor.execute("SET statement_timeout = '{timeout_ms}ms'")
user, _ = get_user_model().objects.get_or_create(username="bench-admin-manager", defaults={{"is_staff": True}})
membership_set(user=user, brand=brand, role="manager")
client = Client()
client.force_login(user)
rows = []
for url in ["/admin/", *pages(brand.pk)]:
    times, queries, status, first = [], 0, 0, None
    for attempt in range({repeat} + 1):  # the first is a warm-up
        with CaptureQueriesContext(connection) as ctx:
            start = time.perf_counter()
            try:
                response = client.get(url)
                status = response.status_code
            except Exception:  # the statement timeout: the page took longer than it
                status = "timeout"
            elapsed = time.perf_counter() - start
        queries = len(ctx.captured_queries)
        if first is None:
            first = elapsed
        if status == "timeout":
            times = [elapsed]
            break
        if attempt:
            times.append(elapsed)
    rows.append([url, status, statistics.median(times), max(times), queries, first])
from apps.analytics.models import DashboardSnapshot
snapshot = DashboardSnapshot.objects.filter(brand=brand).first()
print(json.dumps({{"rows": rows, "snapshot": snapshot and [snapshot.seconds, str(snapshot.computed_at)]}}))
"""
    import json

    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    if done.returncode != 0:
        return f"failed: {done.stderr[-800:]}"
    data = json.loads(done.stdout.strip().splitlines()[-1])
    if data.get("missing"):
        return "not measured: no such brand (run bench/refresh.py --customers 1000000 first)"
    if data.get("snapshot"):  # how long the dashboard's snapshot took (at publish, or on the warm-up view)
        seconds, when = data["snapshot"]
        data["rows"].append(["dashboard snapshot", f"computed {when}", seconds, seconds, 0])
    return data["rows"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    began = time.perf_counter()
    ensure_demo()
    print(f"demo database ready in {time.perf_counter() - began:.0f} s")
    import psycopg

    big_ready = False
    try:
        with psycopg.connect(BIG_DB) as conn:
            big_ready = bool(
                conn.execute("SELECT 1 FROM brands_brand WHERE slug = %s", [BIG_SLUG]).fetchone()
            )
    except psycopg.OperationalError:
        big_ready = False
    for label, db, slug in (("demo", DEMO_DB, "demo"), ("1M", BIG_DB, BIG_SLUG)):
        if label == "1M" and not big_ready:
            print("\n1M: not measured: run bench/refresh.py --customers 1000000 first")
            continue
        rows = measure(db, slug, args.repeat if label == "demo" else 1)
        repeats = args.repeat if label == "demo" else 1
        print(
            f"\n{label} (target {TARGETS[label] * 1000:.0f} ms; median and worst of {repeats}; 60 s cap)",
            flush=True,
        )
        if isinstance(rows, str):
            print("  " + rows)
            continue
        baseline = rows[0]
        print(
            f"  bare baseline {baseline[0]:45s} {baseline[2] * 1000:6.0f} ms  (worst {baseline[3] * 1000:.0f}) {baseline[4]} queries"
        )
        over = []
        snapshot = [row for row in rows if row[0] == "dashboard snapshot"]
        rows = [row for row in rows if row[0] != "dashboard snapshot"]
        for url, status, median, worst, queries, first in rows[1:]:
            flag = "" if median <= TARGETS[label] else "  OVER"
            if flag:
                over.append(url)
            print(
                f"  {url:58s} {status} {median * 1000:6.0f} ms  (worst {worst * 1000:5.0f}, first"
                f" {first * 1000:5.0f}) {queries:3d} queries{flag}"
            )
        print(
            f"  target met on {len(rows) - 1 - len(over)} of {len(rows) - 1} pages"
            + (f"; over: {', '.join(over)}" if over else "")
        )
        for _name, when, seconds, _worst, _queries in snapshot:
            print(
                f"  dashboard snapshot: {seconds:.2f} s to compute ({when}; once per publish or data change)"
            )


if __name__ == "__main__":
    main()
