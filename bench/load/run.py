"""Benchmark: the GraphQL API under load, 20 concurrent clients for 60 s, on a brand of 1M customers.

    .venv/bin/python bench/load/run.py [--customers 1000000] [--clients 20] [--seconds 60] [--workers 5]
                                       [--phases bare,nocache,reads,cache,live]

Runs against the brand `bench-refresh-N` of bench/refresh.py (database clv_bench_refresh; run bench/refresh.py
--customers N first, so the brand exists and has published scores). Starts the production server (gunicorn,
`--workers` sync workers, clvsite.settings.production, DEBUG off, persistent connections) on 127.0.0.1:8765
and drives it with locust, headless, from its own virtualenv (.venv-load, created from
bench/load/requirements.txt when missing): `--clients` users with no think time for `--seconds`, all on
loopback. What the users read is in bench/load/locustfile.py: the customer list (first pages with totalCount
under the list screen's filters, then next pages), customers' 360 views, and the brand's reports.

Each phase starts a fresh server and is measured in the same run, one after the other:

    bare      the floor of the stack: the same clients sending `{ __typename }` with the same token
              (gunicorn, Django, the token check, strawberry; no read of the brand's data)
    nocache   the product's reads with the read cache off (CACHE_URL=dummycache://)
    reads     the product's reads with the read cache of reports and counts on Redis
              (CACHE_URL=redis://127.0.0.1:6379/13, flushed first, so the phase starts cold) and the API's
              response cache off (GRAPHQL_RESPONSE_CACHE=false)
    cache     as `reads`, with the response cache on (apps/api/response_cache.py: the list's pages and the
              reports asked again under the same read version answered without running the query)
    live      as `cache`, while a live stream's orders arrive: every LIVE_EVERY_SECONDS, LIVE_BATCH new paid
              orders of existing customers are imported through the product's order import (orders_import,
              as the ingestOrders mutation does), so the brand's data version moves all along; the orders
              are deleted again after the phase (the bench brand stays as bench/refresh.py made it)

Prints per request kind and in all: requests, p50, p95, p99 and failures (a failure is any response that is
not a 200 without GraphQL errors), and the CPU the server's processes and PostgreSQL used.
Target (issue 14): p95 ≤ 100 ms with no errors at 20 clients.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
from _server import HOST, PORT, refresh_bench_brand, start_server, stop_server  # noqa: E402

DB_URL = "postgres://postgres@127.0.0.1:5432/clv_bench_refresh"
REDIS_CACHE = "redis://127.0.0.1:6379/13"
LOAD_VENV = ROOT / ".venv-load"
TARGET_P95_MS = 100.0
PHASES = {  # name: (scenario, CACHE_URL, GRAPHQL_RESPONSE_CACHE)
    "bare": ("bare", "dummycache://", "true"),
    "nocache": ("mixed", "dummycache://", "true"),
    "reads": ("mixed", REDIS_CACHE, "false"),
    "cache": ("mixed", REDIS_CACHE, "true"),
    "live": ("mixed", REDIS_CACHE, "true"),
}
LIVE_EVERY_SECONDS = 2.0  # the live phase imports a batch of new orders this often
LIVE_BATCH = 5
LIVE_PREFIX = "BENCH-LIVE-"


def locust_ready() -> Path:
    """The locust of the load virtualenv, created first when missing."""
    locust = LOAD_VENV / "bin" / "locust"
    if not locust.exists():
        print("creating .venv-load with bench/load/requirements.txt …", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(LOAD_VENV)], check=True)
        subprocess.run(
            [
                str(LOAD_VENV / "bin" / "pip"),
                "install",
                "-q",
                "-r",
                str(ROOT / "bench/load/requirements.txt"),
            ],
            check=True,
        )
    return locust


def setup(n: int) -> dict:
    """An analyst token for the bench brand, its global id, customer ids spread over it, the stream days."""
    # the live phase's imports tell the server's read cache what they changed: this process uses it too
    os.environ["CACHE_URL"] = REDIS_CACHE
    brand, plaintext = refresh_bench_brand(DB_URL, n, role="analyst", token_name="bench/load")
    from django.db.models import Max
    from django.db.models.functions import Mod
    from strawberry.relay import to_base64

    from apps.customers.models import Customer
    from apps.streams.models import Stream

    # every 200th customer: spread over the brand like the users' clicks, without ORDER BY random()
    ids = list(
        Customer.objects.filter(brand=brand)
        .annotate(bucket=Mod("pk", 200))
        .filter(bucket=0)
        .values_list("pk", flat=True)[:5000]
    )
    last = Stream.objects.filter(brand=brand).aggregate(last=Max("started_at"))["last"]
    to = last.astimezone(brand.tzinfo).date()
    buyers = list(Customer.objects.filter(pk__in=ids[:500]).values_list("external_id", flat=True))
    return {
        "brand_pk": brand.pk,
        "buyers": buyers,
        "token": plaintext,
        "brand": to_base64("Brand", brand.pk),
        "customer_ids": [to_base64("Customer", pk) for pk in ids],
        "streams_from": (to.replace(day=1)).isoformat(),
        "streams_to": to.isoformat(),
    }


def cpu_seconds(pids_of: str) -> float:
    """CPU seconds (user + system) used so far by the processes whose command line contains `pids_of`."""
    total = 0
    tick = os.sysconf("SC_CLK_TCK")
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                if pids_of.encode() not in f.read():
                    continue
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime (fields 14 and 15 of stat)
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
    return total / tick


def flush_cache(url: str) -> None:
    if url.startswith("redis://"):
        import redis

        redis.Redis.from_url(url).flushdb()


def live_orders(config: dict, workdir: Path, stop) -> dict:
    """Import LIVE_BATCH new paid orders every LIVE_EVERY_SECONDS until `stop` is set (a thread of this
    process, with its own database connection); returns what it imported and how long the imports took."""
    import random

    from django.db import connections

    from apps.brands.models import Brand
    from apps.orders.importers import orders_import

    brand = Brand.objects.get(pk=config["brand_pk"])
    rng = random.Random(7)
    done = {"batches": 0, "orders": 0, "seconds": []}
    path = workdir / "live.csv"
    try:
        while not stop.wait(LIVE_EVERY_SECONDS):
            now = datetime.now(brand.tzinfo).strftime("%Y-%m-%d %H:%M:%S")
            rows = [
                f"{LIVE_PREFIX}{done['batches']}-{i},{rng.choice(config['buyers'])},{now},"
                f"{rng.randint(30, 400)}.00,paid"
                for i in range(LIVE_BATCH)
            ]
            path.write_text("order_id,customer_id,ordered_at,amount,status\n" + "\n".join(rows) + "\n")
            clock = time.perf_counter()
            result = orders_import(brand=brand, path=path)
            done["seconds"].append(time.perf_counter() - clock)
            if result.errors:
                sys.exit(f"the live orders were refused: {result.errors[:3]}")
            done["batches"] += 1
            done["orders"] += result.created
    finally:
        connections.close_all()
    return done


def live_orders_delete(config: dict) -> int:
    from apps.orders.models import Order

    _, per_model = Order.objects.filter(
        brand_id=config["brand_pk"], external_id__startswith=LIVE_PREFIX
    ).delete()
    return per_model.get(Order._meta.label, 0)  # the orders (their lines went with them)


def phase_run(name: str, config: dict, args, locust: Path, workdir: Path) -> dict:
    import threading

    scenario, cache_url, responses = PHASES[name]
    flush_cache(cache_url)
    config_path = workdir / f"{name}.json"
    config_path.write_text(json.dumps({**config, "scenario": scenario}))
    server = start_server(DB_URL, args.workers, {"CACHE_URL": cache_url, "GRAPHQL_RESPONSE_CACHE": responses})
    live, stop, writer = {}, threading.Event(), None
    if name == "live":
        writer = threading.Thread(target=lambda: live.update(live_orders(config, workdir, stop)))
        writer.start()
    try:
        cpu_before = {"gunicorn": cpu_seconds("clvsite.wsgi"), "postgres": cpu_seconds("postgres:")}
        clock = time.perf_counter()
        done = subprocess.run(
            [
                str(locust),
                "-f",
                str(ROOT / "bench/load/locustfile.py"),
                "--headless",
                "--users",
                str(args.clients),
                "--spawn-rate",
                str(args.clients),
                "--run-time",
                f"{args.seconds}s",
                "--host",
                f"http://{HOST}:{PORT}",
                "--csv",
                str(workdir / name),
                "--only-summary",
                "--loglevel",
                "WARNING",
                "--stop-timeout",
                "30",
            ],
            env={
                **os.environ,
                "LOAD_CONFIG": str(config_path),
                "LOAD_CACHE_STATS": str(workdir / f"{name}_cache.json"),
            },
            capture_output=True,
            text=True,
            check=False,
        )
        wall = time.perf_counter() - clock
        cpu = {
            "gunicorn": cpu_seconds("clvsite.wsgi") - cpu_before["gunicorn"],
            "postgres": cpu_seconds("postgres:") - cpu_before["postgres"],
        }
    finally:
        stop.set()
        if writer is not None:
            writer.join()
            live["deleted"] = live_orders_delete(config)
        stop_server(server)
    stats_path = workdir / f"{name}_stats.csv"
    if not stats_path.exists():
        sys.exit(f"locust wrote no statistics (exit {done.returncode}):\n{done.stderr[-2000:]}")
    with stats_path.open() as f:
        rows = list(csv.DictReader(f))
    failures_path = workdir / f"{name}_failures.csv"
    examples = []
    if failures_path.exists():
        with failures_path.open() as f:
            examples = [f"{row['Name']}: {row['Error']}"[:240] for row in csv.DictReader(f)]
    cache_path = workdir / f"{name}_cache.json"
    answered = json.loads(cache_path.read_text()) if cache_path.exists() else {}
    return {
        "rows": rows,
        "wall": wall,
        "cpu": cpu,
        "failure_examples": examples,
        "live": live,
        "answered": answered,
    }


def report(name: str, result: dict, seconds: int) -> tuple[float | None, int]:
    print(f"\n{name}: {PHASE_WORDS[name]}")
    print(f"  {'request':<34} {'n':>7} {'req/s':>7} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'failed':>7}")
    total_p95, total_failures = None, 0
    for row in result["rows"]:
        label = "all requests" if row["Name"] == "Aggregated" else row["Name"]
        count, failures = int(row["Request Count"]), int(row["Failure Count"])
        p50, p95, p99 = (row["50%"], row["95%"], row["99%"])
        print(
            f"  {label:<34} {count:>7,} {float(row['Requests/s']):>7.1f} {p50:>8} {p95:>8} {p99:>8} {failures:>7}"
        )
        if row["Name"] == "Aggregated":
            total_p95 = float(p95) if p95 not in ("", "N/A") else None
            total_failures = failures
    answered = result.get("answered") or {}
    hits = {name: counts.get("hit", 0) for name, counts in answered.items()}
    if any(hits.values()):
        shares = ", ".join(
            f"{name} {hits[name] / max(1, sum(counts.values())):.0%}"
            for name, counts in sorted(answered.items())
        )
        print(f"  answered from the response cache: {shares}")
    cpu = result["cpu"]
    print(
        f"  CPU over {result['wall']:.0f} s: gunicorn {cpu['gunicorn']:.0f} s, PostgreSQL {cpu['postgres']:.0f} s "
        f"(the machine has {os.cpu_count()} cores: {os.cpu_count() * result['wall']:.0f} core-seconds)"
    )
    live = result.get("live")
    if live:
        seconds = sorted(live["seconds"]) or [0.0]
        print(
            f"  live orders: {live['orders']:,} in {live['batches']} imports (median import "
            f"{seconds[len(seconds) // 2] * 1000:.0f} ms); deleted again after the phase: {live['deleted']:,}"
        )
    for example in result["failure_examples"][:3]:
        print(f"  failure: {example}")
    return total_p95, total_failures


PHASE_WORDS = {
    "bare": "the floor of the stack ({ __typename } with the same token)",
    "nocache": "the product's reads, read cache off",
    "reads": "the product's reads, read cache on Redis, response cache off (cold at the start)",
    "cache": "the product's reads, read cache and response cache on Redis (cold at the start)",
    "live": "the same with a live stream's orders imported meanwhile (the data version moves all along)",
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--workers", type=int, default=5, help="gunicorn sync workers (2 × cores + 1).")
    parser.add_argument(
        "--phases",
        default="bare,nocache,reads,cache,live",
        help="Comma-separated: bare, nocache, reads, cache, live.",
    )
    args = parser.parse_args()
    phases = [p.strip() for p in args.phases.split(",") if p.strip()]
    unknown = [p for p in phases if p not in PHASES]
    if unknown:
        parser.error(f"unknown phase {unknown[0]}: use {', '.join(PHASES)}")

    locust = locust_ready()
    config = setup(args.customers)
    print(
        f"{args.clients} clients, no think time, {args.seconds} s per phase, {args.workers} gunicorn sync workers, "
        f"{args.customers:,} customers, {os.cpu_count()} cores; loopback"
    )
    verdicts = {}
    with tempfile.TemporaryDirectory(prefix="bench-load-") as tmp:
        for name in phases:
            result = phase_run(name, config, args, locust, Path(tmp))
            verdicts[name] = report(name, result, args.seconds)
    print("\ntarget: p95 ≤ 100 ms over all requests with no failures")
    for name, (p95, failures) in verdicts.items():
        met = p95 is not None and p95 <= TARGET_P95_MS and failures == 0
        print(f"  {name:<8} p95 {p95} ms, {failures} failed: {'met' if met else 'NOT met'}")


if __name__ == "__main__":
    main()
