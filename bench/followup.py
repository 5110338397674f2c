"""Benchmark: follow-up planning for a stream with 200,000 viewers, and sending 100,000 touches through the
signed-webhook backend against a local gateway stub.

    .venv/bin/python bench/followup.py [--viewers 200000] [--send 100000] [--rebuild]

Uses the database clv_bench_followup on the system PostgreSQL (created and migrated if missing). The brand
`bench-followup` is generated with set-based SQL: `--viewers` customers (85% with marketing consent, 90% with a
phone, preferred channels mixed), who all watched stream BIG (ended 2026-06-30 12:00 brand time); 3% bought
in it; 20% were touched twice in the two days before (so the 72-hour cap bites), and a second stream SMALL
with a tenth of the viewers, to show the query count does not grow with the audience.

Prints, each beside a bare baseline measured in the same run:
- planning: wall time and SQL queries for SMALL and BIG (target: BIG ≤ 10 s, the same number of queries);
  baseline: fetching BIG's viewers alone (one SELECT);
- sending: `--send` due touches through touches_send_due with the webhook backend (claim, guards, render,
  sign, POST with 8 threads, record): touches per second and peak memory; baseline: the same number of
  signed POSTs of the same payload size from the same thread pool, with no database at all. The stub counts
  distinct idempotency keys: every touch must arrive exactly once.
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
DB_URL = "postgres://postgres@127.0.0.1:5432/clv_bench_followup"
os.environ["DJANGO_SETTINGS_MODULE"] = "clvsite.settings.local"
os.environ["DATABASE_URL"] = DB_URL
os.environ.setdefault("LOG_LEVEL", "WARNING")

SLUG = "bench-followup"
TARGET_PLAN_SECONDS = 10.0


def ensure_database(rebuild: bool) -> None:
    from _db import ensure_database as ensure

    ensure(DB_URL, rebuild)


def generate(brand, n: int) -> None:
    """Customers, the two streams, views, buyers and earlier touches, in a few set-based statements."""
    from django.db import connection

    from apps.engagement.models import FollowupRule

    b = brand.pk
    rule = FollowupRule.objects.filter(brand=brand).order_by("priority").first().pk
    statements = [
        ("SELECT setseed(0.42)", []),
        (
            """INSERT INTO customers_customer (created_at, updated_at, external_id, display_name, phone, gender,
                   age_band, province, city, acquisition_channel, first_seen_at, marketing_consent,
                   automated_decisions_opt_out, preferred_touch_channel, brand_id)
               SELECT now(), now(), 'c' || g, '', CASE WHEN random() < 0.9 THEN '138' || lpad(g::text, 8, '0') ELSE '' END,
                      'unknown', '', '', '', 'live_stream', '2026-01-01', random() < 0.85, random() < 0.03,
                      (ARRAY['wecom', 'sms', 'app_push', 'wechat', ''])[1 + floor(random() * 5)::int], %s
               FROM generate_series(1, %s) g""",
            [b, n],
        ),
        (
            """INSERT INTO streams_stream (created_at, updated_at, external_id, title, host_name, platform, category,
                   started_at, ended_at, brand_id)
               VALUES (now(), now(), 'BIG', 'Summer launch', 'host', 'douyin', '', '2026-06-30 09:00+08',
                       '2026-06-30 12:00+08', %s),
                      (now(), now(), 'SMALL', 'Weekday stream', 'host', 'douyin', '', '2026-06-29 09:00+08',
                       '2026-06-29 12:00+08', %s)""",
            [b, b],
        ),
        (
            """INSERT INTO streams_streamview (created_at, updated_at, joined_at, watch_seconds, comments, likes,
                   shares, brand_id, customer_id, stream_id)
               SELECT now(), now(), s.started_at, (60 + random() * 3000)::int, (random() * 4)::int,
                      (random() * 10)::int, (random() * 2)::int, %s, c.id, s.id
               FROM customers_customer c JOIN streams_stream s ON s.brand_id = c.brand_id
               WHERE c.brand_id = %s AND (s.external_id = 'BIG' OR mod(c.id, 10) = 0)""",
            [b, b],
        ),
        (
            """INSERT INTO orders_order (created_at, updated_at, external_id, placed_at, status, total_amount,
                   currency, channel, brand_id, customer_id, stream_id)
               SELECT now(), now(), 'o' || c.id, '2026-06-30 11:00+08', 'paid', 99, 'CNY', 'live_stream', %s, c.id, s.id
               FROM customers_customer c JOIN streams_stream s ON s.brand_id = c.brand_id AND s.external_id = 'BIG'
               WHERE c.brand_id = %s AND random() < 0.03""",
            [b, b],
        ),
        (
            """INSERT INTO engagement_touch (created_at, updated_at, brand_id, customer_id, rule_id, occasion,
                   channel, sender, stage, tier_code, scheduled_at, window_ends_at, send_hour, status, reason,
                   holdout, key, attempts, last_error, sent_at)
               SELECT now(), now(), %s, c.id, %s, 'stream:0:' || k, 'sms', '', 'prospect', '',
                      '2026-06-29 08:00+08'::timestamptz + k * interval '20 hours', '2026-07-02 08:00+08', 8,
                      'sent', '', false, gen_random_uuid(), 1, '', '2026-06-29 08:00+08'::timestamptz + k * interval '20 hours'
               FROM customers_customer c CROSS JOIN generate_series(0, 1) k
               WHERE c.brand_id = %s AND random() < 0.2""",
            [b, rule, b],
        ),
    ]
    with connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)
        cursor.execute("ANALYZE")


def plan(brand, stream, now) -> tuple[float, int, object]:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from apps.engagement.models import Touch
    from apps.engagement.planning import followups_plan

    Touch.objects.filter(brand=brand, occasion=f"stream:{stream.pk}").delete()
    with CaptureQueriesContext(connection) as ctx:
        start = time.perf_counter()
        result = followups_plan(brand=brand, stream=stream, now=now)
        seconds = time.perf_counter() - start
    return seconds, len(ctx.captured_queries), result


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Stub:
    def __init__(self):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/send"
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "_gateway_stub.py"), str(self.port)],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.process.stdout.readline().strip() == "ready"

    def stop(self) -> tuple[int, int]:
        self.process.terminate()
        line = self.process.stdout.readline().split()
        self.process.wait(timeout=30)
        return int(line[0]), int(line[1])


def bare_posts(url: str, n: int, threads: int = 8) -> float:
    """The baseline: n signed POSTs of a touch-sized payload from a thread pool, no database."""
    import json

    import httpx

    from apps.engagement.delivery import sign

    body = json.dumps(
        {
            "key": "00000000-0000-0000-0000-000000000000",
            "brand": SLUG,
            "channel": "sms",
            "customer_id": "c123456",
            "subject": "",
            "body": "感谢您观看 Summer launch！您的专属优惠正在等您，点击领取：http://127.0.0.1:8000/r/xxxxxxxx/",
            "link": "http://127.0.0.1:8000/r/xxxxxxxx/",
            "sender": "",
            "mass_send": None,
        },
        ensure_ascii=False,
    ).encode()
    limits = httpx.Limits(max_connections=threads, max_keepalive_connections=threads)
    with httpx.Client(timeout=10, limits=limits) as client:

        def post(i):
            stamp = str(int(time.time()))
            client.post(
                url,
                content=body,
                headers={
                    "Idempotency-Key": f"bare-{i}",
                    "X-CLV-Timestamp": stamp,
                    "X-CLV-Signature": "sha256=" + sign("secret", stamp, body),
                    "Content-Type": "application/json",
                },
            )

        start = time.perf_counter()
        with ThreadPoolExecutor(max_workers=threads) as pool:
            list(pool.map(post, range(n)))
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--viewers", type=int, default=200_000)
    parser.add_argument("--send", type=int, default=100_000)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    ensure_database(args.rebuild)
    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    call_command("migrate", verbosity=0)
    import datetime as dt

    from apps.brands.models import Brand
    from apps.brands.services import brand_create
    from apps.customers.models import Customer
    from apps.engagement.models import Touch
    from apps.engagement.sending import touches_send_due
    from apps.streams.models import Stream

    brand = Brand.objects.filter(slug=SLUG).first()
    if brand is not None and Customer.objects.filter(brand=brand).count() != args.viewers:
        sys.exit(f"{SLUG} was generated with another --viewers: run with --rebuild")
    if brand is None:
        brand, _ = brand_create(slug=SLUG, name="Bench follow-ups", timezone="Asia/Shanghai", currency="CNY")
        start = time.perf_counter()
        generate(brand, args.viewers)
        print(f"generated {args.viewers:,} customers and their views in {time.perf_counter() - start:.1f} s")
    big = Stream.objects.get(brand=brand, external_id="BIG")
    small = Stream.objects.get(brand=brand, external_id="SMALL")
    viewers = big.views.count()

    # -- planning -------------------------------------------------------------------------------------------
    with connection.cursor() as cursor:
        start = time.perf_counter()
        cursor.execute(
            "SELECT customer_id, watch_seconds FROM streams_streamview WHERE brand_id = %s AND stream_id = %s",
            [brand.pk, big.pk],
        )
        cursor.fetchall()
        bare = time.perf_counter() - start
    small_s, small_q, small_r = plan(brand, small, small.ended_at + dt.timedelta(hours=1))
    big_s, big_q, big_r = plan(brand, big, big.ended_at + dt.timedelta(hours=1))
    print(f"\nplanning ({viewers:,} viewers of BIG, {small.views.count():,} of SMALL)")
    print(f"  SMALL: {small_s:6.2f} s, {small_q} SQL queries, {small_r.written:,} touch rows")
    print(
        f"  BIG:   {big_s:6.2f} s, {big_q} SQL queries, {big_r.written:,} touch rows ({big_r.planned:,} planned)"
    )
    reasons = ", ".join(f"{k} {v:,}" for k, v in sorted(big_r.reasons.items(), key=lambda kv: -kv[1]))
    print(f"  BIG suppressed: {reasons}")
    print(f"  bare SELECT of BIG's viewers: {bare:.2f} s  (planning = {big_s / bare:.1f}× it)")
    print(
        f"  target ≤ {TARGET_PLAN_SECONDS:.0f} s: {'met' if big_s <= TARGET_PLAN_SECONDS else 'NOT met'}; "
        f"fixed query count: {'met' if big_q == small_q else 'NOT met'} ({small_q} vs {big_q})"
    )

    # -- sending --------------------------------------------------------------------------------------------
    send_at = big.ended_at + dt.timedelta(hours=7)
    due = Touch.objects.filter(brand=brand, occasion=f"stream:{big.pk}", status="planned").count()
    n = min(args.send, due)
    stub = Stub()
    policy = brand.contact_policy
    policy.gateway, policy.webhook_url, policy.webhook_secret = "webhook", stub.url, "secret"
    policy.save()
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    start = time.perf_counter()
    result = touches_send_due(brand=brand, now=send_at, limit=n)
    product = time.perf_counter() - start
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    requests, keys = stub.stop()
    stub = Stub()
    baseline = bare_posts(stub.url, result.sent)
    bare_requests, _bare_keys = stub.stop()
    print(f"\nsending {n:,} due touches through the webhook backend (8 threads, local stub)")
    print(
        f"  product: {product:6.1f} s = {result.claimed / product:,.0f} touches/s "
        f"(sent {result.sent:,}, failed {result.failed:,}, suppressed at send {sum(result.suppressed.values()):,}, "
        f"benefits granted {result.grants:,})"
    )
    print(
        f"  bare signed POSTs, same pool, no database: {baseline:6.1f} s = {bare_requests / baseline:,.0f} requests/s "
        f"(product = {product / baseline:.2f}× it)"
    )
    print(
        f"  gateway received {requests:,} requests with {keys:,} distinct keys: "
        f"{'each touch once' if requests == keys == result.sent else 'DUPLICATES OR LOSSES'}"
    )
    print(f"  peak memory (max RSS of this process): {rss:,.0f} MB (before sending {rss_before:,.0f} MB)")


if __name__ == "__main__":
    main()
