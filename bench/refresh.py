"""Benchmark: refresh the scores of a brand of N customers and check the engine's performance targets.

    .venv/bin/python bench/refresh.py --customers 1000000 [--rebuild] [--seed 7] [--processes 2 | --workers 2]

Uses the database clv_bench_refresh (created and migrated if missing). The brand `bench-refresh-N` is
generated directly in PostgreSQL with set-based SQL (generate_series, random() after setseed): N customers,
~10 orders each on average (heavy-tailed, customers stop buying), ~30 stream views each over 500 streams,
community memberships for ~20% of them and some benefit grants. Generation is skipped when the brand already
has N customers, unless --rebuild. Earlier runs of the bench brand are deleted first (and the tables refreshes
rewrite vacuumed), so every run starts from the same state (no published run: the publish writes one stage
change per customer each time).

Prints time per phase (run.timings), wall time, peak RSS and a bare GROUP BY over the brand's paid orders
timed in the same run, with the ratio of the feature SQL (gap frames + customer frames) to it.

With --processes N the refresh runs as the README's `refresh_scores` runs it without a broker: N spawned
processes of this machine score one id range each (apps.analytics.local_workers); peak memory is the largest sum
over this process and its children, sampled every 0.2 s.

With --workers N the refresh runs as production runs it: the `analytics.refresh_scores` task on a real Celery
worker (Redis, a queue of its own, N + 1 processes: one holds the refresh, N score chunks of customers in
parallel). Peak memory is then the largest sum of the resident memory of every process of the worker, sampled
every 0.2 s; the feature SQL is taken from the run's phase timings.

Targets (engine issue): 1M customers in ≤ 180 s on this 2-core machine; feature SQL ≤ 2× the bare GROUP BY;
peak memory ≤ 4 GB; doubling the data costs at most 2.1× the time (compare the 500k and 1M runs).
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
DB_URL = "postgres://postgres@127.0.0.1:5432/clv_bench_refresh"
os.environ["DJANGO_SETTINGS_MODULE"] = "clvsite.settings.local"
os.environ["DATABASE_URL"] = DB_URL

START = date(2023, 1, 1)
AS_OF = date(2026, 6, 30)
STREAMS = 500
TARGET_SECONDS = 180.0
TARGET_SQL_RATIO = 2.0
TARGET_PEAK_MB = 4096.0
# the selectors that run the feature SQL; the bench times each call (run.timings mixes them with fitting)
FEATURE_SELECTORS = ("gap_frame", "customer_frame")


def ensure_database() -> bool:
    """Create the benchmark database if missing; True when it was created."""
    import psycopg
    from psycopg import sql

    name = DB_URL.rsplit("/", 1)[1]
    admin = DB_URL.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin, autocommit=True) as conn:
        if conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [name]).fetchone():
            return False
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return True


# -- generation ------------------------------------------------------------------------------------------------

BRAND_TABLES = (  # children first; deleted by brand_id on --rebuild
    "analytics_stagechange",
    "analytics_customerscore",
    "loyalty_benefitgrant",
    "loyalty_benefit",
    "communities_communitymembership",
    "communities_community",
    "streams_streamview",
    "orders_order",
    "customers_customer",
    "streams_stream",
)


def _generation_sql(brand_id: int, n: int, seed: int) -> list[tuple[str, list]]:
    t0, t1 = f"{START.isoformat()} 00:00+08", f"{AS_OF.isoformat()} 23:59:59+08"
    span_days = (AS_OF - START).days
    step = span_days / STREAMS
    return [
        ("SELECT setseed(%s)", [((seed % 1000) / 1000.0) - 0.5]),
        # latent customer parameters: engagement e, rhythm r (days), planned orders n, views
        (
            f"""
            CREATE TEMP TABLE _bench_cust ON COMMIT DROP AS
            WITH z AS (
                SELECT g AS idx,
                       sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS e,
                       sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS z1,
                       sqrt(-2 * ln(1 - random())) * cos(2 * pi() * random()) AS z2,
                       random() AS u_first, random() AS u_age, random() AS u_views
                FROM generate_series(1, %s) g
            )
            SELECT idx, (SELECT COALESCE(MAX(id), 0) FROM customers_customer) + idx AS id, e,
                   %s::timestamptz + (u_first ^ 1.6) * INTERVAL '{span_days} days' AS first_at,
                   GREATEST(3.0, 28.0 * exp(0.45 * z1 - 0.35 * e)) AS r,
                   LEAST(150, 1 + floor(exp(1.75 + 0.35 * e + 1.15 * z2)))::int AS n,
                   LEAST(200, GREATEST(1, round(26 * exp(0.5 * e) * (0.3 + 1.4 * u_views))))::int AS nviews,
                   u_age
            FROM z
            """,
            [n, t0],
        ),
        ("ALTER TABLE _bench_cust ADD PRIMARY KEY (idx)", []),
        (
            """
            INSERT INTO streams_stream (id, created_at, updated_at, external_id, title, host_name, platform,
                                        category, started_at, ended_at, brand_id)
            SELECT (SELECT COALESCE(MAX(id), 0) FROM streams_stream) + s, now(), now(), 's' || s,
                   'Stream ' || s, 'host', 'douyin', '', %s::timestamptz + (s - 1) * %s * INTERVAL '1 day',
                   %s::timestamptz + (s - 1) * %s * INTERVAL '1 day' + INTERVAL '3 hours', %s
            FROM generate_series(1, %s) s
            """,
            [t0, step, t0, step, brand_id, STREAMS],
        ),
        (
            """
            INSERT INTO customers_customer (id, created_at, updated_at, external_id, display_name, phone, gender,
                birth_year, age_band, province, city, acquisition_channel, first_seen_at, marketing_consent,
                automated_decisions_opt_out, preferred_touch_channel, brand_id)
            SELECT id, now(), now(), 'c' || idx, '', '', CASE WHEN mod(idx, 3) = 0 THEN 'male' ELSE 'female' END,
                   NULL,
                   CASE WHEN u_age < 0.2 THEN '' WHEN u_age < 0.25 THEN '<18' WHEN u_age < 0.45 THEN '18-24'
                        WHEN u_age < 0.7 THEN '25-34' WHEN u_age < 0.85 THEN '35-44' WHEN u_age < 0.95
                        THEN '45-54' ELSE '55+' END,
                   '', '', 'live_stream', first_at, false, false, 'wechat', %s
            FROM _bench_cust ORDER BY idx
            """,
            [brand_id],
        ),
        # orders: the i-th lands near first + (i - 1) · r; those after the as-of date are never placed
        (
            """
            INSERT INTO orders_order (created_at, updated_at, external_id, placed_at, status, total_amount,
                                      currency, channel, brand_id, customer_id, stream_id)
            SELECT now(), now(), 'o' || c.idx || '-' || i, o.placed_at,
                   CASE WHEN o.u < 0.93 THEN 'paid' WHEN o.u < 0.97 THEN 'refunded' ELSE 'cancelled' END,
                   round((60 + 240 * exp(0.6 * (random() + random() + random() - 1.5)))::numeric, 2),
                   'CNY', 'live_stream', %s, c.id, NULL
            FROM _bench_cust c
            CROSS JOIN LATERAL generate_series(1, c.n) i
            CROSS JOIN LATERAL (
                SELECT c.first_at + CASE WHEN i = 1 THEN 0 ELSE (i - 1.5 + random()) END * c.r
                       * INTERVAL '1 day' AS placed_at, random() AS u
            ) o
            WHERE o.placed_at <= %s::timestamptz
            ORDER BY c.idx, i
            """,
            [brand_id, t1],
        ),
        # views: consecutive-ish streams over the customer's active span, one per (stream, customer)
        (
            f"""
            INSERT INTO streams_streamview (created_at, updated_at, joined_at, watch_seconds, comments, likes,
                                            shares, brand_id, customer_id, stream_id)
            SELECT now(), now(), s.started_at + random() * INTERVAL '2 hours',
                   (60 + random() * 3000 * exp(0.3 * c.e))::int,
                   floor(random() * 3 * exp(0.4 * c.e))::int, floor(random() * 4)::int,
                   floor(random() * 1.5)::int, %s, c.id, s.id
            FROM (
                SELECT c.*, GREATEST(0, floor(extract(epoch FROM c.first_at - %s::timestamptz) / 86400 / {step})
                                        - 5)::int AS s0,
                       GREATEST(1, floor(c.n * c.r / {step} / c.nviews))::int AS ds
                FROM _bench_cust c
            ) c
            CROSS JOIN LATERAL generate_series(0, LEAST(c.nviews, ({STREAMS} - 1 - c.s0) / c.ds + 1) - 1) j
            JOIN streams_stream s
              ON s.id = (SELECT MIN(id) FROM streams_stream WHERE brand_id = {brand_id}) + c.s0 + j * c.ds
            ORDER BY c.idx, j
            """,
            [brand_id, t0],
        ),
        (
            """
            INSERT INTO communities_community (created_at, updated_at, external_id, name, kind, opened_at,
                                               brand_id)
            SELECT now(), now(), 'g' || g, 'Group ' || g, 'wechat_group', %s::timestamptz, %s
            FROM generate_series(1, 20) g
            """,
            [t0, brand_id],
        ),
        (
            """
            INSERT INTO communities_communitymembership (created_at, updated_at, joined_at, left_at,
                                                         activity_count, brand_id, community_id, customer_id)
            SELECT now(), now(), m.joined_at,
                   CASE WHEN random() < 0.3 THEN m.joined_at + random() * INTERVAL '200 days' END,
                   floor(random() * 50)::int, %s, g.id, c.id
            FROM _bench_cust c
            CROSS JOIN LATERAL (SELECT c.first_at + random() * c.n * c.r * INTERVAL '1 day' AS joined_at,
                                       1 + mod(c.idx, 20) AS g) m
            JOIN communities_community g ON g.brand_id = %s AND g.external_id = 'g' || m.g
            WHERE c.e + 0.3 * (random() - 0.5) > 0.84 AND m.joined_at <= %s::timestamptz
            ORDER BY c.idx
            """,
            [brand_id, brand_id, t1],
        ),
        (
            """
            INSERT INTO loyalty_benefit (created_at, updated_at, code, name, kind, value, validity_days,
                                         is_active, description, brand_id)
            SELECT now(), now(), 'b' || b, 'Benefit ' || b, 'coupon', 10 * b, 30, true, '', %s
            FROM generate_series(1, 5) b
            """,
            [brand_id],
        ),
        (
            """
            INSERT INTO loyalty_benefitgrant (created_at, updated_at, granted_at, expires_at, redeemed_at,
                                              revoked_at, source, note, benefit_id, brand_id, customer_id)
            SELECT now(), now(), x.granted_at, x.granted_at + INTERVAL '30 days',
                   CASE WHEN x.u < 0.4 THEN x.granted_at + x.u * INTERVAL '50 days' END,
                   CASE WHEN x.u > 0.95 THEN x.granted_at + INTERVAL '3 days' END,
                   'campaign', '', b.id, %s, x.id
            FROM (
                SELECT c.id, c.idx, k, c.first_at + random() * c.n * c.r * INTERVAL '1 day' AS granted_at,
                       random() AS u
                FROM _bench_cust c CROSS JOIN LATERAL generate_series(1, 1 + mod(c.idx, 3)) k
                WHERE mod(c.idx, 10) < 3
            ) x
            JOIN loyalty_benefit b ON b.brand_id = %s AND b.code = 'b' || (1 + mod(x.idx + x.k, 5))
            WHERE x.granted_at <= %s::timestamptz
            ORDER BY x.idx, x.k
            """,
            [brand_id, brand_id, t1],
        ),
        (
            "SELECT setval(pg_get_serial_sequence('customers_customer', 'id'), "
            "(SELECT MAX(id) FROM customers_customer))",
            [],
        ),
        (
            "SELECT setval(pg_get_serial_sequence('streams_stream', 'id'), (SELECT MAX(id) FROM streams_stream))",
            [],
        ),
    ]


def generate(brand, n: int, seed: int) -> None:
    from django.db import connection, transaction

    with transaction.atomic(), connection.cursor() as cursor:
        # the data are consistent by construction: skip the (deferred) foreign-key triggers of 40M+ rows
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute("SET LOCAL max_parallel_workers_per_gather = 0")  # random() in one process: repeatable
        cursor.execute("SET LOCAL work_mem = '256MB'")
        cursor.execute("SET LOCAL maintenance_work_mem = '1GB'")
        for table in BRAND_TABLES:
            cursor.execute(f"DELETE FROM {table} WHERE brand_id = %s", [brand.pk])
        # plain (not constraint) indexes of the two big tables: dropped, then built once after the load
        cursor.execute(
            """
            SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid) FROM pg_index i
            WHERE i.indrelid IN ('orders_order'::regclass, 'streams_streamview'::regclass)
              AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid)
            """
        )
        plain = cursor.fetchall()
        for name, _definition in plain:
            cursor.execute(f"DROP INDEX {name}")
        for sql, params in _generation_sql(brand.pk, n, seed):
            clock = time.perf_counter()
            cursor.execute(sql, params)
            label = " ".join(sql.split()[:3])[:40]
            print(
                f"  {label:<42} {cursor.rowcount:>12,} rows {time.perf_counter() - clock:7.1f} s", flush=True
            )
        clock = time.perf_counter()
        for _name, definition in plain:
            cursor.execute(definition)
        print(f"  {len(plain)} plain indexes rebuilt in {time.perf_counter() - clock:.1f} s", flush=True)
    # VACUUM as well as ANALYZE: the first reads of freshly loaded rows would otherwise set their hint bits
    # and visibility during the timed refresh (minutes of writes at 1M customers), which a brand's real,
    # settled data does not cost
    clock = time.perf_counter()
    with connection.cursor() as cursor:
        for table in (
            "customers_customer",
            "orders_order",
            "streams_streamview",
            "streams_stream",
            "communities_communitymembership",
            "loyalty_benefitgrant",
        ):
            cursor.execute(f"VACUUM (ANALYZE) {table}")
    print(f"  vacuumed and analysed in {time.perf_counter() - clock:.1f} s", flush=True)


def brand_counts(brand) -> dict[str, int]:
    from django.db import connection

    out = {}
    with connection.cursor() as cursor:
        for table in (
            "customers_customer",
            "orders_order",
            "streams_streamview",
            "communities_communitymembership",
            "loyalty_benefitgrant",
        ):
            cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE brand_id = %s", [brand.pk])
            out[table] = int(cursor.fetchone()[0])
    return out


# -- measuring -------------------------------------------------------------------------------------------------


def bare_group_by(brand) -> float:
    """The floor for any per-customer aggregate: one GROUP BY pass over the brand's paid orders."""
    from django.db import connection

    with connection.cursor() as cursor:
        clock = time.perf_counter()
        cursor.execute(
            """
            SELECT count(*) FROM (
                SELECT customer_id, count(*), sum(total_amount), max(placed_at)
                FROM orders_order WHERE brand_id = %s AND status = 'paid' GROUP BY customer_id
            ) t
            """,
            [brand.pk],
        )
        cursor.fetchone()
        return time.perf_counter() - clock


# The bench brand's runs and what hangs off them, children first (deleted before each run).
RUN_TABLES = (
    "analytics_stagechange",
    "analytics_customerscore",
    "analytics_prospectscore",
    "analytics_customerrecommendation",
    "analytics_dashboardsnapshot",
    "analytics_modelrun",
)
# What each refresh rewrites: with autovacuum off (as on the bench machines) the rows of earlier runs stay as
# dead tuples, and seven refreshes left about six million in each of these tables for the next run (and for
# the load, admin and GraphQL benchmarks) to read through.
DERIVED_TABLES = (*RUN_TABLES, "engagement_nextaction", "loyalty_tierchange")


def clear_runs(brand) -> None:
    from django.db import connection

    with connection.cursor() as cursor:
        for table in RUN_TABLES:
            cursor.execute(f"DELETE FROM {table} WHERE brand_id = %s", [brand.pk])
    vacuum_derived()


def vacuum_derived() -> float:
    """VACUUM (ANALYZE) the tables refreshes rewrite, as autovacuum would; returns the seconds it took."""
    from django.db import connection

    clock = time.perf_counter()
    with connection.cursor() as cursor:
        for table in DERIVED_TABLES:
            cursor.execute(f"VACUUM (ANALYZE) {table}")
    return time.perf_counter() - clock


def time_selectors(names) -> dict[str, list[float]]:
    """Wrap selectors.<name> so each call's seconds are recorded (services calls them through the module)."""
    from apps.analytics import selectors

    calls: dict[str, list[float]] = {name: [] for name in names}
    for name in names:
        inner = getattr(selectors, name)

        def timed(*args, _inner=inner, _name=name, **kwargs):
            clock = time.perf_counter()
            try:
                return _inner(*args, **kwargs)
            finally:
                calls[_name].append(time.perf_counter() - clock)

        setattr(selectors, name, timed)
    return calls


REDIS = "redis://127.0.0.1:6379/14"


def _group_rss_mb(pgid: int) -> float:
    """Resident memory of every process in a process group, in MB (Linux /proc)."""
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            if int(fields[2]) != pgid:  # field 5 of stat: the process group
                continue
            with open(f"/proc/{entry}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
    return total / 1024 / 1024


def _tree_rss_mb(root: int) -> float:
    """Resident memory of a process and all its descendants, in MB (Linux /proc)."""
    parents: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        for child, parent in parents.items():
            if parent == pid and child not in tree:
                tree.add(child)
                frontier.append(child)
    total = 0
    for pid in tree:
        try:
            with open(f"/proc/{pid}/statm") as f:
                total += int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
        except (FileNotFoundError, ProcessLookupError, IndexError, ValueError):
            continue
    return total / 1024 / 1024


def refresh_in_processes(brand, processes: int):
    """Refresh as `refresh_scores --processes N` does; returns (run, wall seconds, peak MB of the process tree)."""
    from apps.analytics.local_workers import local_chunking
    from apps.analytics.services import scores_refresh

    peak = [0.0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _tree_rss_mb(os.getpid()))
            time.sleep(0.2)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    clock = time.perf_counter()
    try:
        run = scores_refresh(
            brand=brand, as_of=AS_OF, triggered_by="bench/refresh.py", **local_chunking(brand, processes)
        )
    finally:
        wall = time.perf_counter() - clock
        done.set()
        sampler.join()
    return run, wall, peak[0]


def refresh_on_workers(brand, workers: int) -> tuple[int, float, float]:
    """Run the refresh task on a real worker; returns (run id, wall seconds, peak MB of the worker)."""
    from celery import Celery

    queue = f"bench-refresh-{os.getpid()}"
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "clvsite.settings.local",
        "DATABASE_URL": DB_URL,
        "CELERY_BROKER_URL": REDIS,
        "CELERY_RESULT_BACKEND": REDIS,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
    }
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "clvsite",
            "worker",
            "-c",
            str(workers + 1),
            "--loglevel",
            "WARNING",
            "--without-gossip",
            "--without-mingle",
            "-Q",
            queue,
            "-n",
            f"{queue}@%h",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,  # the banner; warnings and errors still reach stderr
        start_new_session=True,
    )
    client = Celery("bench-refresh-client", broker=REDIS, backend=REDIS)
    peak = [0.0]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], _group_rss_mb(worker.pid))
            time.sleep(0.2)

    try:
        deadline = time.monotonic() + 60
        while not client.control.ping(timeout=1):
            if worker.poll() is not None or time.monotonic() > deadline:
                sys.exit("the Celery worker did not start")
        sampler = threading.Thread(target=sample, daemon=True)
        sampler.start()
        clock = time.perf_counter()
        result = client.send_task(
            "analytics.refresh_scores",
            args=[brand.pk, AS_OF.isoformat()],
            kwargs={"chunks": 2 * workers},
            queue=queue,
        ).get(timeout=3600)
        wall = time.perf_counter() - clock
        done.set()
        sampler.join()
    finally:
        done.set()
        for sig in (signal.SIGTERM, signal.SIGKILL):
            try:
                os.killpg(worker.pid, sig)
                worker.wait(timeout=30)
                break
            except ProcessLookupError:
                break
            except subprocess.TimeoutExpired:
                continue
        client.close()
    if result.get("status") != "published":
        sys.exit(f"the refresh did not publish: {result}")
    return result["run_id"], wall, peak[0]


def cpu_ticks() -> tuple[int, int]:
    """(busy, total) jiffies of every core of the machine since boot (/proc/stat): the refresh's processes, its
    PostgreSQL backends and anything else running."""
    with open("/proc/stat") as f:
        fields = [int(v) for v in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def verdict(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rebuild", action="store_true", help="Regenerate the brand's data.")
    parser.add_argument("--generate-only", action="store_true", help="Generate (if needed) and stop.")
    parser.add_argument("--profile", metavar="PATH", help="Write a cProfile of the refresh (pstats).")
    parser.add_argument(
        "--workers",
        type=int,
        default=0,
        help="Run the refresh task on a Celery worker scoring N chunks at once.",
    )
    parser.add_argument(
        "--processes",
        type=int,
        default=0,
        help="Score in N processes of this machine, as refresh_scores does without a broker.",
    )
    args = parser.parse_args()
    if args.workers and args.processes:
        parser.error("--workers and --processes are two ways to run the refresh: choose one")

    ensure_database()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)  # cheap when up to date
    from apps.analytics.services import scores_refresh
    from apps.brands.models import Brand

    n = args.customers
    brand, _ = Brand.objects.get_or_create(
        slug=f"bench-refresh-{n}",
        defaults={"name": f"Refresh bench {n:,}", "timezone": "Asia/Shanghai", "currency": "CNY"},
    )
    counts = brand_counts(brand)
    if args.rebuild or counts["customers_customer"] != n:
        print(f"generating {n:,} customers (seed {args.seed}) …", flush=True)
        clock = time.perf_counter()
        generate(brand, n, args.seed)
        print(f"generated in {time.perf_counter() - clock:.1f} s")
        counts = brand_counts(brand)
    print("rows: " + ", ".join(f"{t.split('_', 1)[1]} {c:,}" for t, c in counts.items()))
    if args.generate_only:
        return
    clear_runs(brand)

    bare = bare_group_by(brand)  # once to warm the cache like the refresh's own first pass, then timed
    bare = min(bare, bare_group_by(brand))

    calls = time_selectors((*FEATURE_SELECTORS, "outcome_frame"))
    profiler = None
    cpu_before = cpu_ticks()
    if args.workers:
        from apps.analytics.models import ModelRun

        run_id, wall, peak_mb = refresh_on_workers(brand, args.workers)
        run = ModelRun.objects.get(pk=run_id)
    elif args.processes:
        run, wall, peak_mb = refresh_in_processes(brand, args.processes)
    else:
        if args.profile:
            import cProfile

            profiler = cProfile.Profile()
            profiler.enable()
        clock = time.perf_counter()
        run = scores_refresh(brand=brand, as_of=AS_OF, triggered_by="bench/refresh.py")
        wall = time.perf_counter() - clock
        if profiler is not None:
            profiler.disable()
            profiler.dump_stats(args.profile)
        peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    cpu_after = cpu_ticks()
    bare_after = bare_group_by(brand)

    print(f"\nrefresh of {n:,} customers as of {AS_OF}: status {run.status}, wall {wall:.1f} s")
    for phase, seconds in run.timings.items():
        indent = "    " if phase.startswith("publish: ") else "  "  # the publish's steps, inside its time
        print(f"{indent}{phase:<28} {seconds:8.2f} s")
    # phases that ran beside the others (a thread or process of their own) are not on the critical path, and
    # the publish's steps are part of the publish's time
    other = wall - sum(
        s for phase, s in run.timings.items() if "beside" not in phase and not phase.startswith("publish: ")
    )
    print(f"  {'(lock, run rows, the rest)':<28} {other:8.2f} s")
    overall = (run.metrics or {}).get("overall", {}).get("model", {})
    c_index = overall.get("harrell_c", overall.get("c_index_harrell"))
    print(f"customers scored: {run.customers_scored:,}; holdout Harrell's C: {c_index}")
    print(
        f"fit: {run.params.get('gap_rows'):,} gap rows ({run.params.get('sample_per_mille')}‰ of "
        f"{run.params.get('purchases'):,} purchases)"
    )

    bare_ref = min(bare, bare_after)
    print(f"\nbare GROUP BY over paid orders: {bare_ref:.2f} s (before {bare:.2f}, after {bare_after:.2f})")
    ratio = None
    if args.workers or args.processes:
        chunk_timings = run.params.get("chunk_timings", {})
        if args.workers:
            print(
                f"worker: {args.workers} chunk processes + 1 refresh process, {run.params.get('chunks')} chunks"
            )
        else:
            print(
                f"local: {args.processes} scoring processes beside this one, {run.params.get('chunks')} chunks"
            )
        for phase, seconds in chunk_timings.items():
            print(f"  chunks: {phase:<20} {seconds:8.2f} s (summed over the chunks, which ran in parallel)")
        print(
            "feature SQL: the customer frames ran in the scoring processes; run single-process to time them"
        )
    else:
        for name, seconds in calls.items():
            print(
                f"  selectors.{name}: {len(seconds)} calls, " + ", ".join(f"{s:.2f}" for s in seconds) + " s"
            )
        feature_sql = sum(sum(calls[name]) for name in FEATURE_SELECTORS)
        ratio = feature_sql / bare_ref
        print(f"feature SQL (all gap_frame + customer_frame calls): {feature_sql:.2f} s = {ratio:.2f}× bare")
    busy = (cpu_after[0] - cpu_before[0]) / os.sysconf("SC_CLK_TCK")
    share = (cpu_after[0] - cpu_before[0]) / max(1, cpu_after[1] - cpu_before[1])
    cores = os.cpu_count() or 1
    print(
        f"machine CPU during the refresh: {busy:,.0f} core-seconds busy, {share * cores:.2f} of {cores} cores "
        f"on average ({share:.0%}); the floor at full use: {busy / cores:,.0f} s"
    )
    print(
        f"peak memory ({'sum over the processes' if args.workers or args.processes else 'max RSS'}): "
        f"{peak_mb:,.0f} MB"
    )
    print("\ntargets:")
    if n >= 1_000_000:
        print(f"  1M customers in ≤ {TARGET_SECONDS:.0f} s: {verdict(wall <= TARGET_SECONDS)} ({wall:.1f} s)")
    else:
        print(f"  time ≤ {TARGET_SECONDS:.0f} s applies at 1M customers (this run: {wall:.1f} s)")
    if ratio is not None:
        print(
            f"  feature SQL ≤ {TARGET_SQL_RATIO:.0f}× bare GROUP BY: {verdict(ratio <= TARGET_SQL_RATIO)} "
            f"({ratio:.2f}×)"
        )
    print(f"  peak memory ≤ 4 GB: {verdict(peak_mb <= TARGET_PEAK_MB)} ({peak_mb / 1024:.2f} GB)")
    print("  doubling ≤ 2.1× time: compare the wall times of --customers 500000 and 1000000")


if __name__ == "__main__":
    main()
