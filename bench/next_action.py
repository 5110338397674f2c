"""Benchmark: the next best action for 1,000,000 scored customers, as a refresh's publish computes it.

    .venv/bin/python bench/next_action.py [--customers 1000000] [--rebuild]

Uses the database clv_bench_nba on the system PostgreSQL (created and migrated if missing). The brand
`bench-nba` is generated with set-based SQL: `--customers` customers with a score each in one run (stages,
churn and P(purchase) spread as a refresh gives them), 30% with a paid order in the 90 days before the
cutoff, and a finished coupon experiment of 20,000 customers (assignments with frozen covariates and their
conversions), so the uplift model is fitted and applied to every customer.

Prints the time of next_actions_compute (fitting the uplift model, reading the population, deciding,
writing every row through COPY) and its parts, peak memory, and beside it, measured in the same run, a bare
baseline: reading the run's score rows alone and writing as many narrow rows with COPY. The refresh's time
budget for 1M customers is 180 s (docs/engine.md); the note states the share this step adds.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))
DB_URL = "postgres://postgres@127.0.0.1:5432/clv_bench_nba"
os.environ["DJANGO_SETTINGS_MODULE"] = "clvsite.settings.local"
os.environ["DATABASE_URL"] = DB_URL
os.environ.setdefault("LOG_LEVEL", "WARNING")

SLUG = "bench-nba"
REFRESH_BUDGET_SECONDS = 180.0


def ensure_database(rebuild: bool) -> None:
    from _db import ensure_database as ensure

    ensure(DB_URL, rebuild)


def generate(brand, n: int) -> None:
    import datetime as dt

    from django.db import connection

    from apps.analytics.models import ModelRun
    from apps.engagement.experiments import experiment_create
    from apps.engagement.models import Experiment
    from apps.loyalty.models import Benefit

    b = brand.pk
    run = ModelRun.objects.create(
        brand=brand,
        status="succeeded",
        as_of=dt.date(2026, 6, 30),
        cutoff=dt.datetime(2026, 6, 30, 16, 0, tzinfo=dt.UTC),
        horizon_days=90,
        estimator="coxph",
    )
    start = dt.datetime(2026, 4, 1, tzinfo=dt.UTC)
    experiment = experiment_create(
        brand=brand,
        code="nba-coupon",
        name="coupon",
        starts_at=start,
        ends_at=start + dt.timedelta(days=30),
        arms=[
            {"code": "control", "is_control": True, "share": 50},
            {
                "code": "coupon",
                "share": 50,
                "treatment": "benefit",
                "benefit": Benefit.objects.get(brand=brand, code="coupon-50"),
            },
        ],
    )
    control, coupon = experiment.arms.order_by("-is_control", "code").values_list("pk", flat=True)
    statements = [
        ("SELECT setseed(0.7)", []),
        (
            """INSERT INTO customers_customer (created_at, updated_at, external_id, display_name, phone, gender,
                   age_band, province, city, acquisition_channel, first_seen_at, marketing_consent,
                   automated_decisions_opt_out, preferred_touch_channel, brand_id)
               SELECT now(), now(), 'c' || g, '', '', 'unknown', '', '', '', 'live_stream', '2025-01-01',
                      random() < 0.8, random() < 0.03, '', %s FROM generate_series(1, %s) g""",
            [b, n],
        ),
        (
            """INSERT INTO analytics_customerscore (created_at, updated_at, stage, stage_rule, rhythm_days, rfm_recency,
                   rfm_frequency, rfm_monetary, rfm_segment, orders_count, monetary_total, last_purchase_at,
                   days_since_last_purchase, p_purchase_horizon, churn_probability, expected_revenue_horizon, clv,
                   survival_curve, brand_id, customer_id, run_id, value_percentile)
               SELECT now(), now(), (ARRAY['introduction','growth','maturity','decline','churned'])[1 + floor(random() * 5)::int],
                      'model', 30, 3, 3, 3, 'loyal', o, o * 120.0, '2026-05-01', 60, p, 1 - p, p * 150, p * 400,
                      '[]', %s, c.id, %s, random() * 100
               FROM (SELECT id, 1 + floor(random() * 8)::int AS o, random() AS p FROM customers_customer
                     WHERE brand_id = %s) c""",
            [b, run.pk, b],
        ),
        (
            """INSERT INTO orders_order (created_at, updated_at, external_id, placed_at, status, total_amount,
                   currency, channel, brand_id, customer_id)
               SELECT now(), now(), 'p' || c.id, '2026-06-30 16:00+00'::timestamptz - random() * interval '90 days',
                      'paid', round((50 + random() * 250)::numeric, 2), 'CNY', 'live_stream', %s, c.id
               FROM customers_customer c WHERE c.brand_id = %s AND random() < 0.3""",
            [b, b],
        ),
        (
            """INSERT INTO engagement_experimentassignment (created_at, updated_at, brand_id, experiment_id, arm_id,
                   customer_id, assigned_at, exposed_at, pre_revenue, pre_orders, predicted_revenue, p_purchase)
               SELECT now(), now(), %s, %s, CASE WHEN random() < 0.5 THEN %s ELSE %s END, c.id, %s, %s,
                      k * 100, k, k * 50.0, 0.15 + 0.05 * least(k, 3)
               FROM (SELECT id, floor(random() * 3)::int AS k FROM customers_customer WHERE brand_id = %s
                     ORDER BY id LIMIT 20000) c""",
            [b, experiment.pk, control, coupon, start, start, b],
        ),
        (
            """INSERT INTO orders_order (created_at, updated_at, external_id, placed_at, status, total_amount,
                   currency, channel, brand_id, customer_id)
               SELECT now(), now(), 'x' || a.customer_id, %s::timestamptz + interval '5 days', 'paid', 100, 'CNY',
                      'live_stream', %s, a.customer_id
               FROM engagement_experimentassignment a
               WHERE a.brand_id = %s AND random() < a.p_purchase + CASE WHEN a.arm_id = %s
                     THEN (CASE WHEN a.pre_orders = 0 THEN 0.2 ELSE -0.03 END) ELSE 0 END""",
            [start, b, b, coupon],
        ),
    ]
    with connection.cursor() as cursor:
        for sql, params in statements:
            cursor.execute(sql, params)
        cursor.execute("ANALYZE")
    Experiment.objects.filter(pk=experiment.pk).update(status="finished", started_at=start)


def baseline(run) -> float:
    """Read the run's score rows and write as many narrow rows with COPY (into a temporary table)."""
    import io

    from django.db import connection

    start = time.perf_counter()
    with connection.cursor() as cursor:
        raw = cursor.cursor
        buffer = io.BytesIO()
        with raw.copy(
            "COPY (SELECT customer_id, churn_probability, p_purchase_horizon FROM analytics_customerscore "
            f"WHERE brand_id = {int(run.brand_id)} AND run_id = {int(run.pk)}) TO STDOUT"
        ) as copy:
            for block in copy:
                buffer.write(block)
        cursor.execute("CREATE TEMP TABLE _bare (customer_id bigint, a float8, b float8)")
        with raw.copy("COPY _bare FROM STDIN") as copy:
            copy.write(buffer.getvalue())
        cursor.execute("DROP TABLE _bare")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    ensure_database(args.rebuild)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from apps.analytics.models import CustomerScore, ModelRun
    from apps.brands.models import Brand
    from apps.brands.services import brand_create
    from apps.engagement import next_action

    brand = Brand.objects.filter(slug=SLUG).first()
    if brand is not None and CustomerScore.objects.filter(brand=brand).count() != args.customers:
        sys.exit(f"{SLUG} was generated with another --customers: run with --rebuild")
    if brand is None:
        brand, _ = brand_create(slug=SLUG, name="Bench next action", timezone="Asia/Shanghai", currency="CNY")
        began = time.perf_counter()
        generate(brand, args.customers)
        print(
            f"generated {args.customers:,} scored customers and a 20,000-customer experiment in {time.perf_counter() - began:.1f} s"
        )
    run = ModelRun.objects.get(brand=brand)

    parts = {}
    began = time.perf_counter()
    next_action.uplift_model_fit(brand=brand)
    parts["uplift model"] = time.perf_counter() - began
    began = time.perf_counter()
    frame = next_action._population(run)
    parts["population query"] = time.perf_counter() - began
    began = time.perf_counter()
    summary = next_action.next_actions_compute(run=run)
    total = time.perf_counter() - began
    base = baseline(run)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"\nnext best action for {len(frame):,} customers")
    print(
        f"  product: {total:.1f} s (of which uplift model {parts['uplift model']:.1f} s, population query {parts['population query']:.1f} s; the rest decides and writes)"
    )
    print(
        f"  bare baseline (read the scores, COPY as many narrow rows): {base:.1f} s  (product = {total / base:.1f}× it)"
    )
    print(
        f"  share of the 1M refresh budget ({REFRESH_BUDGET_SECONDS:.0f} s): {total / REFRESH_BUDGET_SECONDS:.0%}"
    )
    print(f"  peak memory (max RSS): {rss:.0f} MB")
    print(f"  actions: {summary['actions']}; uplift model: {summary['uplift_model']}")


if __name__ == "__main__":
    main()
